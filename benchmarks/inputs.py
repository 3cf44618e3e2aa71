"""Benchmark inputs: real CIFAR-10 test JPEGs from the shared archive, pixel batches, a large photo, request bodies."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

MULTIPART_BOUNDARY = "cifar10-bench-boundary-7d1f3a"
SAMPLE_MEMBER = "test/cat/0000.jpg"


@dataclass(frozen=True)
class TestImage:
    """One encoded CIFAR-10 test image and the archive member it came from."""

    name: str
    jpeg: bytes


def read_test_images(archive: Path, count: int, first: str = SAMPLE_MEMBER) -> list[TestImage]:
    """Read `count` test-split JPEGs from the archive, starting with `first` (a real cat photo)."""
    if not archive.is_file():
        raise FileNotFoundError(f"CIFAR-10 archive not found at {archive}")
    leading: TestImage | None = None
    others: list[TestImage] = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if not (member.isfile() and member.name.startswith("test/") and member.name.endswith(".jpg")):
                continue
            is_first = member.name == first
            if not is_first and len(others) >= count:
                if leading is not None:
                    break
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            image = TestImage(name=member.name, jpeg=handle.read())
            if is_first:
                leading = image
            else:
                others.append(image)
    images = ([leading] if leading is not None else []) + others
    if not images:
        raise ValueError(f"no test JPEGs in {archive}")
    return images[:count]


def decode_pixels(jpeg: bytes) -> NDArray[np.uint8]:
    """Decode one 32×32 JPEG to a uint8 [32, 32, 3] RGB array."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.uint8)


def pixel_batch(images: list[TestImage], batch_size: int) -> NDArray[np.uint8]:
    """A uint8 [batch_size, 32, 32, 3] batch cycling through the decoded test images."""
    pixels = [decode_pixels(image.jpeg) for image in images]
    return np.stack([pixels[index % len(pixels)] for index in range(batch_size)])


def large_photo_jpeg(megapixels: float, seed: int = 0) -> tuple[bytes, tuple[int, int]]:
    """A photo-like 4:3 JPEG of about `megapixels` (smooth colour fields plus sensor-like noise), and its size."""
    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(width * 3 / 4)
    generator = np.random.default_rng(seed)
    coarse = generator.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.int16)
    noise = generator.integers(-6, 7, size=(height, width, 1), dtype=np.int16)
    photo = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), (width, height)


def multipart_body(jpeg: bytes, field: str = "file", filename: str = "image.jpg") -> bytes:
    """A multipart/form-data body carrying one JPEG, as browsers and `requests` send it."""
    head = (
        f"--{MULTIPART_BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + jpeg + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()


def multipart_content_type() -> str:
    """The Content-Type header matching `multipart_body`."""
    return f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"


def v2_infer_body(pixels: NDArray[np.uint8], input_name: str = "image") -> bytes:
    """A KServe V2 JSON inference request for one image (uint8 NHWC, row-major flat data)."""
    request = {
        "inputs": [
            {
                "name": input_name,
                "shape": [1, *pixels.shape],
                "datatype": "UINT8",
                "data": pixels.reshape(-1).tolist(),
            }
        ]
    }
    return json.dumps(request, separators=(",", ":")).encode()
