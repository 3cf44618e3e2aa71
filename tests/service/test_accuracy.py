"""Accuracy through HTTP: CIFAR-10 test JPEGs sent to /predict get the same top-1 as onnxruntime on the same pixels."""

from __future__ import annotations

import io
import tarfile
from collections import Counter

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from starlette.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import COMMITTED_FP32, PROJECT_ROOT

pytestmark = pytest.mark.dataset

ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
PER_CLASS = 50


def read_test_jpegs(per_class: int) -> list[tuple[str, bytes]]:
    """The first ``per_class`` test JPEGs of every class, straight from the archive (no extraction)."""
    taken: Counter[str] = Counter()
    images: list[tuple[str, bytes]] = []
    with tarfile.open(ARCHIVE, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[0] != "test" or taken[parts[1]] >= per_class:
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            images.append((member.name, handle.read()))
            taken[parts[1]] += 1
            if len(taken) == 10 and all(count >= per_class for count in taken.values()):
                break
    return images


@pytest.mark.slow  # a thousand test images through the app
def test_http_top1_equals_onnxruntime_on_the_decoded_pixels() -> None:
    if not ARCHIVE.exists():
        pytest.skip(f"CIFAR-10 archive not found at {ARCHIVE}")
    if not COMMITTED_FP32.exists():
        pytest.skip(f"{COMMITTED_FP32} is missing")
    images = read_test_jpegs(PER_CLASS)
    assert len(images) == 10 * PER_CLASS
    pixels = np.stack([np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for _, data in images])
    expected = ort.InferenceSession(str(COMMITTED_FP32)).run(None, {"image": pixels})[0]
    settings = Settings(model=str(COMMITTED_FP32), access_log=False)
    with TestClient(create_app(settings)) as client:
        answers = [
            client.post("/predict", content=data, headers={"content-type": "image/jpeg"}).json() for _, data in images
        ]
    served = np.array([answer["index"] for answer in answers])
    np.testing.assert_array_equal(served, expected.argmax(axis=1))
    np.testing.assert_allclose([answer["confidence"] for answer in answers], expected.max(axis=1), rtol=1e-5)
