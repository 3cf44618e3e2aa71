"""The committed artifacts: checksums match the manifest, and accuracies match it on the real test set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.data import DEFAULT_ARCHIVE

MODELS = Path(__file__).resolve().parent.parent / "models"
MANIFEST = json.loads((MODELS / "manifest.json").read_text())


def test_manifest_lists_every_artifact_with_matching_checksum() -> None:
    import hashlib

    listed = {entry["path"]: entry for entry in MANIFEST["artifacts"]}
    on_disk = {p.name for p in MODELS.iterdir() if p.is_file() and p.name != "manifest.json"}
    assert set(listed) == on_disk
    for name, entry in listed.items():
        data = (MODELS / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{name} changed since the manifest was written"
        assert len(data) == entry["bytes"]


def test_onnx_metadata_points_at_the_committed_keras_file() -> None:
    import onnxruntime as ort

    keras_sha = next(e["sha256"] for e in MANIFEST["artifacts"] if e["path"] == "best_model.keras")
    for precision in ("fp32", "int8"):
        session = ort.InferenceSession(str(MODELS / MANIFEST["models"][precision]["file"]))
        meta = session.get_modelmeta().custom_metadata_map
        assert meta["source_keras_sha256"] == keras_sha
        assert meta["precision"] == precision


@pytest.fixture(scope="module")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    if not DEFAULT_ARCHIVE.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {DEFAULT_ARCHIVE}; put cifar10-jpeg.tar.gz in ../shared/data/")
    from training.data import read_archive

    _, test = read_archive(DEFAULT_ARCHIVE)
    return test.images, test.labels


@pytest.mark.dataset
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_accuracy_matches_manifest(precision: str, test_split: tuple[np.ndarray, np.ndarray]) -> None:
    import onnxruntime as ort

    images, labels = test_split
    session = ort.InferenceSession(str(MODELS / MANIFEST["models"][precision]["file"]))
    probabilities = np.concatenate(
        [session.run(None, {"image": images[i : i + 1000]})[0] for i in range(0, 10000, 1000)]
    )
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    assert accuracy == pytest.approx(MANIFEST["models"][precision]["test_accuracy"], abs=1e-9)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.dataset
@pytest.mark.tensorflow
def test_keras_accuracy_matches_manifest_and_target(test_split: tuple[np.ndarray, np.ndarray]) -> None:
    keras = pytest.importorskip("keras")
    images, labels = test_split
    model = keras.models.load_model(MODELS / "best_model.keras")
    predicted = model.predict(images.astype(np.float32), batch_size=1000, verbose=0).argmax(axis=1)
    accuracy = float((predicted == labels).mean())
    assert accuracy == pytest.approx(MANIFEST["models"]["keras"]["test_accuracy"], abs=1e-9)
    assert accuracy >= 0.76, "the seed architecture's target is 76% top-1"
