"""The README's sample pictures: the committed model names each one as the class in its file name."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.pipeline import load_model
from service.preprocessing import decode_image
from service.settings import Settings

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.jpg"))


def test_there_are_samples() -> None:
    assert {path.stem for path in SAMPLES} >= {"aeroplane", "ship", "automobile"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_each_sample_is_classified_as_its_name(path: Path) -> None:
    model = load_model(Settings())
    probabilities = model.predict(decode_image(path.read_bytes(), max_pixels=10**8)[None])[0]
    assert model.labels[int(probabilities.argmax())].lower() == path.stem
