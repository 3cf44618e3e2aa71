"""The predict answer: label, bands, rejection and top-k from one probability row."""

from __future__ import annotations

import numpy as np
import pytest

from service.predictions import Thresholds, describe_prediction
from tests.conftest import LABELS


def row(winner: int, confidence: float) -> np.ndarray:
    probabilities = np.full(10, (1 - confidence) / 9, dtype=np.float32)
    probabilities[winner] = confidence
    return probabilities


@pytest.mark.parametrize(
    ("confidence", "band"), [(0.95, "high"), (0.81, "high"), (0.75, "medium"), (0.5, "medium"), (0.49, "low")]
)
def test_bands_follow_the_thresholds(confidence: float, band: str) -> None:
    assert Thresholds().band(confidence) == band
    assert describe_prediction(row(3, confidence), LABELS, Thresholds())["band"] == band


def test_band_limits_are_exclusive_above_and_inclusive_below() -> None:
    thresholds = Thresholds(high=0.8, low=0.5)
    assert (thresholds.band(0.8), thresholds.band(0.5), thresholds.band(0.4999)) == ("medium", "medium", "low")
    assert Thresholds(high=0.9, low=0.2).band(0.85) == "medium"


def test_answer_has_every_field() -> None:
    result = describe_prediction(row(3, 0.9), LABELS, Thresholds())
    assert result["label"] == "Cat"
    assert result["index"] == 3
    assert result["confidence"] == pytest.approx(0.9)
    assert result["accepted"] is True
    assert result["prediction"] == "Cat"
    assert list(result["probabilities"]) == list(LABELS)
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert "top_k" not in result


def test_rejection_keeps_the_raw_top_class_visible() -> None:
    thresholds = Thresholds(reject_below=0.6)
    rejected = describe_prediction(row(5, 0.55), LABELS, thresholds)
    assert (rejected["accepted"], rejected["prediction"], rejected["label"]) == (False, "unknown", "Dog")
    accepted = describe_prediction(row(5, 0.65), LABELS, thresholds)
    assert (accepted["accepted"], accepted["prediction"]) == (True, "Dog")


def test_top_k_is_sorted_best_first() -> None:
    probabilities = np.array([0.05, 0.3, 0.1, 0.4, 0.02, 0.03, 0.04, 0.02, 0.02, 0.02], dtype=np.float32)
    result = describe_prediction(probabilities, LABELS, Thresholds(), top_k=3)
    assert [entry["label"] for entry in result["top_k"]] == ["Cat", "Automobile", "Bird"]
    assert [entry["index"] for entry in result["top_k"]] == [3, 1, 2]
    assert result["top_k"][0]["probability"] == pytest.approx(0.4)


@pytest.mark.parametrize("seed", range(20))
def test_the_label_is_the_first_maximum_as_numpy_picks_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    row = rng.integers(0, 4, size=len(LABELS)).astype(np.float32)  # few distinct values: ties are common
    answer = describe_prediction(row, LABELS, Thresholds())
    assert answer["index"] == int(np.argmax(row))
    assert answer["label"] == LABELS[int(np.argmax(row))]


@pytest.mark.parametrize("position", [0, 1, 5, 9])
def test_a_nan_row_gets_numpys_answer_wherever_the_nan_is(position: int) -> None:
    row = np.linspace(0.01, 0.5, len(LABELS), dtype=np.float32)
    row[position] = np.nan
    answer = describe_prediction(row, LABELS, Thresholds())
    assert answer["index"] == int(np.argmax(row)) == position
