"""Tests for benchmarks.tf_service: the TensorFlow-path baseline answers like the original design."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.inputs import large_photo_jpeg

pytestmark = pytest.mark.tensorflow

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.model import build_model

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("keras") / "tiny.keras"
    build_model().save(path)
    return path


def test_predict_returns_a_label_and_confidence_and_rejects_garbage(keras_file: Path) -> None:
    from fastapi.testclient import TestClient

    from benchmarks.tf_service import create_app
    from training.labels import LABELS

    jpeg, _ = large_photo_jpeg(megapixels=0.05)
    with TestClient(create_app(keras_file, threads=1)) as client:
        assert client.get("/ready").json() == {"status": "ready"}
        answer = client.post("/predict", files={"file": ("a.jpg", jpeg, "image/jpeg")})
        garbage = client.post("/predict", files={"file": ("a.jpg", b"not an image", "image/jpeg")})
    assert answer.status_code == 200
    body = answer.json()
    assert body["label"] in LABELS
    assert 0.0 < body["confidence"] <= 1.0
    assert garbage.status_code == 400
