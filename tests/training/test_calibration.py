"""Bands, ECE and temperature scaling on synthetic data with known answers."""

from __future__ import annotations

import numpy as np

from training import calibration


def test_softmax_rows_sum_to_one_and_temperature_flattens() -> None:
    logits = np.array([[2.0, 1.0, 0.0]])
    assert np.allclose(calibration.softmax(logits).sum(axis=1), 1.0)
    assert calibration.softmax(logits, 2.0).max() < calibration.softmax(logits).max()


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    # 10 images at confidence 0.7, 7 of them right
    probabilities = np.tile([0.7, 0.3], (10, 1))
    labels = np.array([0] * 7 + [1] * 3)
    assert calibration.reliability(probabilities, labels).ece < 1e-12


def test_ece_measures_overconfidence() -> None:
    probabilities = np.tile([0.9, 0.1], (10, 1))
    labels = np.array([0] * 5 + [1] * 5)  # 50 % right at 90 % confidence
    assert abs(calibration.reliability(probabilities, labels).ece - 0.4) < 1e-9


def test_fit_temperature_recovers_the_generating_temperature() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2.0, (20000, 10))
    labels = np.array([rng.choice(10, p=p) for p in calibration.softmax(true_logits)])
    # a model that is 2.5x overconfident: its logits are the true ones times 2.5
    fitted = calibration.fit_temperature(true_logits * 2.5, labels)
    assert abs(fitted - 2.5) < 0.1


def test_confidence_bands_split_at_the_seed_thresholds() -> None:
    probabilities = np.array([[0.95, 0.05], [0.81, 0.19], [0.8, 0.2], [0.5, 0.5], [0.45, 0.55], [0.4, 0.6]])
    probabilities[5] = [0.49, 0.51]  # confidence 0.51 → medium
    labels = np.array([0, 1, 0, 0, 1, 1])
    bands = calibration.confidence_bands(probabilities, labels)
    assert bands["high"]["count"] == 2 and bands["high"]["accuracy"] == 0.5
    assert bands["medium"]["count"] == 4
    assert bands["low"]["count"] == 0


def test_confusion_matrix_counts_true_by_predicted() -> None:
    matrix = calibration.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
