"""Benchmark inputs: real CIFAR-10 test JPEGs from the shared archive, pixel batches, a large photo, and the
request bodies the HTTP benchmarks send, written to files so the load generator can read them."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

MULTIPART_BOUNDARY = "cifar10-bench-boundary-7d1f3a"
MULTIPART_CONTENT_TYPE = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"  # what multipart() writes
SAMPLE_MEMBER = "test/cat/0000.jpg"
V2_INFER_PATH = "/v2/models/cifar10-cnn/infer"


@dataclass(frozen=True)
class TestImage:
    """One encoded CIFAR-10 test image and the archive member it came from."""

    name: str
    jpeg: bytes


@dataclass(frozen=True)
class Workload:
    """One kind of request: where it goes, its body on disk and its content type."""

    name: str
    path: str
    body_file: Path
    content_type: str
    description: str

    def body(self) -> bytes:
        """The request body."""
        return self.body_file.read_bytes()


def read_test_images(archive: Path, count: int) -> list[TestImage]:
    """Read `count` test-split JPEGs from the archive, starting with SAMPLE_MEMBER (a real cat photo)."""
    if not archive.is_file():
        raise FileNotFoundError(f"CIFAR-10 archive not found at {archive}")
    leading: list[TestImage] = []
    others: list[TestImage] = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if leading and len(others) >= count:
                break
            test_jpeg = member.isfile() and member.name.startswith("test/") and member.name.endswith(".jpg")
            wanted = test_jpeg and (member.name == SAMPLE_MEMBER or len(others) < count)
            handle = tar.extractfile(member) if wanted else None
            if handle is not None:
                (leading if member.name == SAMPLE_MEMBER else others).append(TestImage(member.name, handle.read()))
    images = (leading + others)[:count]
    if not images:
        raise ValueError(f"no test JPEGs in {archive}")
    return images


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    """Encode an image in memory."""
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def decode_pixels(jpeg: bytes) -> NDArray[np.uint8]:
    """Decode one 32×32 JPEG to a uint8 [32, 32, 3] RGB array."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.uint8)


def pixel_batch(images: list[TestImage], batch_size: int) -> NDArray[np.uint8]:
    """A uint8 [batch_size, 32, 32, 3] batch cycling through the decoded test images."""
    pixels = [decode_pixels(image.jpeg) for image in images]
    return np.stack([pixels[index % len(pixels)] for index in range(batch_size)])


def large_photo_jpeg(megapixels: float) -> tuple[bytes, tuple[int, int]]:
    """A photo-like 4:3 JPEG of about `megapixels` (smooth colour fields plus sensor-like noise), and its size."""
    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(width * 3 / 4)
    generator = np.random.default_rng(0)
    coarse = generator.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.int16)
    noise = generator.integers(-6, 7, size=(height, width, 1), dtype=np.int16)
    photo = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    return encode(photo, "JPEG", quality=90), (width, height)


def multipart(parts: Sequence[tuple[str, str | None, bytes]], file_type: str = "application/octet-stream") -> bytes:
    """A multipart/form-data body from (field name, file name or None for a plain field, content)."""
    out = bytearray()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += f"Content-Type: {file_type}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    return bytes(out + f"--{MULTIPART_BOUNDARY}--\r\n".encode())


def multipart_body(jpeg: bytes, filename: str = "image.jpg") -> bytes:
    """A multipart/form-data body carrying one JPEG in field `file`, as browsers and `requests` send it."""
    return multipart([("file", filename, jpeg)], file_type="image/jpeg")


def v2_infer_body(pixels: NDArray[np.uint8]) -> bytes:
    """A KServe V2 JSON inference request for one image (uint8 NHWC, row-major flat data)."""
    tensor = {"name": "image", "shape": [1, *pixels.shape], "datatype": "UINT8", "data": pixels.reshape(-1).tolist()}
    return json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()


def write_workloads(image: TestImage, directory: Path) -> dict[str, Workload]:
    """The three ways to ask for one prediction: multipart upload, raw JPEG body, KServe V2 JSON tensor."""
    directory.mkdir(parents=True, exist_ok=True)
    v2 = v2_infer_body(decode_pixels(image.jpeg))
    bodies = {
        "multipart": (multipart_body(image.jpeg), MULTIPART_CONTENT_TYPE, "/predict", "POST /predict, multipart"),
        "raw": (image.jpeg, "image/jpeg", "/predict", "POST /predict, raw JPEG body"),
        "v2": (v2, "application/json", V2_INFER_PATH, "POST V2 infer, JSON uint8 tensor [1,32,32,3]"),
    }
    workloads: dict[str, Workload] = {}
    for name, (body, content_type, path, description) in bodies.items():
        body_file = directory / f"{name}.body"
        body_file.write_bytes(body)
        workloads[name] = Workload(name, path, body_file, content_type, description)
    return workloads
