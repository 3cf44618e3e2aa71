"""Tests for benchmarks.inputs: bodies the servers can parse, a large photo of the asked size, dataset reading."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from benchmarks.config import DATASET_ARCHIVE
from benchmarks.inputs import (
    MULTIPART_CONTENT_TYPE,
    large_photo_jpeg,
    multipart_body,
    pixel_batch,
    read_test_images,
    v2_infer_body,
)


async def echo_upload(request: Request) -> JSONResponse:
    async with request.form() as form:
        upload = form["file"]
        assert isinstance(upload, UploadFile)
        return JSONResponse({"filename": upload.filename, "size": len(await upload.read())})


def test_multipart_body_parses_as_one_file_field() -> None:
    payload = bytes(range(256)) * 3
    app = Starlette(routes=[Route("/", echo_upload, methods=["POST"])])
    with TestClient(app) as client:
        response = client.post(
            "/", content=multipart_body(payload, filename="a.jpg"), headers={"Content-Type": MULTIPART_CONTENT_TYPE}
        )
    assert response.json() == {"filename": "a.jpg", "size": len(payload)}


def test_v2_body_carries_the_pixels_in_row_major_order() -> None:
    pixels = np.arange(32 * 32 * 3, dtype=np.int64).reshape(32, 32, 3).astype(np.uint8)
    request = json.loads(v2_infer_body(pixels))
    (tensor,) = request["inputs"]
    assert tensor["shape"] == [1, 32, 32, 3]
    assert tensor["datatype"] == "UINT8"
    assert np.array_equal(np.asarray(tensor["data"], dtype=np.uint8).reshape(32, 32, 3), pixels)


def test_large_photo_has_the_asked_megapixels_and_is_a_jpeg() -> None:
    jpeg, (width, height) = large_photo_jpeg(megapixels=12.0)
    assert width * height == pytest.approx(12e6, rel=0.01)
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == (width, height)


@pytest.mark.dataset
def test_test_images_come_from_the_test_split_starting_with_a_cat() -> None:
    if not DATASET_ARCHIVE.is_file():
        pytest.skip(f"dataset archive not found at {DATASET_ARCHIVE}")
    images = read_test_images(DATASET_ARCHIVE, 4)
    assert images[0].name == "test/cat/0000.jpg"
    assert len(images) == 4
    assert all(image.name.startswith("test/") for image in images)
    batch = pixel_batch(images, 6)
    assert batch.shape == (6, 32, 32, 3)
    assert batch.dtype == np.uint8
    assert np.array_equal(batch[4], batch[0])  # cycles through the images
