"""The hostile-input catalogue: every malformed, oversized or deceptive request the service must refuse cleanly.

Each case names the status and error code the service documents for it. The same catalogue drives the
reliability tests (in process and against a real server) and the reliability report.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from PIL import Image

from reliability.client import HttpRequest
from service.settings import env_name

V2_INFER: Final = "/v2/models/cifar10-cnn/infer"
BOUNDARY: Final = "reliability-boundary-7f3a"
# A marker written into image metadata: it must never show up in a log line or an error body.
SECRET_MARKER: Final = "SECRET-PIXELS-5d41402abc4b2a76"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits the servers under test run with (small, so over-limit inputs stay cheap to build)."""

    max_upload_bytes: int = 2 * 1024 * 1024
    max_image_pixels: int = 1_000_000
    max_batch_images: int = 8

    def environ(self) -> dict[str, str]:
        """The ``CIFAR10_*`` variables that set these limits (the fields are named like the service's settings)."""
        return {env_name(name): str(value) for name, value in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class HostileCase:
    """One hostile request and the answer the service documents for it."""

    name: str
    request: HttpRequest
    status: int
    code: str
    bomb: bool = False  # a decompression bomb: must be refused from the header, before any pixel is decoded
    per_file: bool = False  # a batch answered 200, the error being the entry of its one file

    def error_entry(self, document: Any) -> Any:
        """The error object in the answer's JSON ``document``: the document itself, or the batch's one entry."""
        if not self.per_file:
            return document
        (entry,) = document["results"]
        return entry


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    """Encode an image in memory."""
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def sample_jpeg(size: tuple[int, int] = (32, 32), seed: int = 0) -> bytes:
    """A deterministic, photo-like JPEG (smooth gradients plus noise)."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) * 127 / max(width, 1)], -1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    return encode(Image.fromarray(pixels), "JPEG", quality=90)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int) -> bytes:
    """A ~70-byte PNG whose header declares ``width`` x ``height`` RGB pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return (
        signature + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")
    )


def real_png_bomb(side: int = 20_000) -> bytes:
    """A complete, valid 1-bit PNG of ``side`` x ``side`` pixels that compresses to tens of kB."""
    row = b"\0" * (1 + math.ceil(side / 8))  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row * 1000) for _ in range(side // 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to declare ``width`` x ``height``."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (200, 30, 30)), "JPEG"))
    marker = data.index(b"\xff\xc0")  # baseline SOF0: length(2) precision(1) height(2) width(2)
    data[marker + 5 : marker + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_declaring(width: int, height: int) -> bytes:
    """A 1x1 GIF whose logical screen is rewritten to ``width`` x ``height``."""
    data = bytearray(encode(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body from (field name, file name or None for a plain field, content)."""
    out = bytearray()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def v2_body(tensor: Mapping[str, object], **extra: object) -> bytes:
    """A V2 infer request body with one input tensor."""
    return json.dumps({"inputs": [dict(tensor)], **extra}).encode()


def _raw(path: str, content_type: str | None, body: bytes, *, streamed: bool = False) -> HttpRequest:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return HttpRequest("POST", path, headers, body, streamed)


def _form(path: str, body: bytes, boundary: str | None = BOUNDARY) -> HttpRequest:
    content_type = "multipart/form-data" + (f"; boundary={boundary}" if boundary is not None else "")
    return HttpRequest("POST", path, {"Content-Type": content_type}, body)


def _json(body: bytes, path: str = V2_INFER) -> HttpRequest:
    return HttpRequest("POST", path, {"Content-Type": "application/json"}, body)


def build_catalogue(limits: Limits) -> list[HostileCase]:
    """Every hostile case, for a server running with ``limits``."""
    good = sample_jpeg()
    rng = np.random.default_rng(7)
    random_bytes = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    big_png = encode(Image.new("RGB", (1100, math.ceil(limits.max_image_pixels / 1000) + 1), (0, 90, 0)), "PNG")
    truncated_png = encode(Image.new("RGB", (64, 64), (10, 20, 30)), "PNG")
    truncated_jpeg = sample_jpeg((64, 64))
    over_limit = b"\xff\xd8" + b"\0" * limits.max_upload_bytes
    html = b"<!doctype html><html><script>alert(document.cookie)</script><img src=x onerror=alert(1)></html>"
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
        b'<script>alert(1)</script><rect width="32" height="32" fill="red"/></svg>'
    )
    pixels = [0] * 3072
    nan_data = b'{"inputs":[{"name":"image","datatype":"UINT8","shape":[1,32,32,3],"data":[NaN' + b",0" * 3071 + b"]}]}"
    image = {"name": "image", "datatype": "UINT8"}
    bad_top_k = [
        ("0", "zero"),
        ("11", "eleven"),
        ("abc", "text"),
        ("-1", "negative"),
        ("1.5", "fraction"),
        ("", "empty"),
    ]
    cases = [
        # --- undecodable bodies -> 400 -------------------------------------------------------------------------
        HostileCase("empty-body", _raw("/predict", "image/png", b""), 400, "invalid_image"),
        HostileCase("truncated-jpeg", _raw("/predict", "image/jpeg", truncated_jpeg[:300]), 400, "invalid_image"),
        HostileCase("truncated-png", _raw("/predict", "image/png", truncated_png[:80]), 400, "invalid_image"),
        HostileCase("random-bytes", _raw("/predict", "application/octet-stream", random_bytes), 400, "invalid_image"),
        HostileCase("text-as-png", _raw("/predict", "image/png", b"hello, I am not a picture"), 400, "invalid_image"),
        HostileCase("html-as-png", _raw("/predict", "image/png", html), 400, "invalid_image"),
        HostileCase("svg", _raw("/predict", "image/svg+xml", svg), 400, "invalid_image"),
        HostileCase("svg-multipart", _form("/predict", multipart([("file", "x.svg", svg)])), 400, "invalid_image"),
        HostileCase(
            "eps",
            _raw("/predict", "image/eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n"),
            400,
            "invalid_image",
        ),
        # --- decompression bombs and pixel limit -> 413 before decoding --------------------------------------
        *[
            HostileCase(name, _raw("/predict", content_type, body), 413, "image_too_large", bomb=True)
            for name, content_type, body in (
                ("png-bomb-header-100k", "image/png", png_declaring(100_000, 100_000)),
                ("png-bomb-1bit-20k", "image/png", real_png_bomb()),
                ("jpeg-bomb-header-65k", "image/jpeg", jpeg_declaring(65_000, 65_000)),
                ("gif-bomb-screen-65k", "image/gif", gif_declaring(65_535, 65_535)),
            )
        ],
        HostileCase(
            "bomb-in-batch",
            _form("/predict/batch", multipart([("files", "b.png", png_declaring(60_000, 60_000))])),
            200,
            "image_too_large",
            bomb=True,
            per_file=True,
        ),
        HostileCase("over-pixel-limit", _raw("/predict", "image/png", big_png), 413, "image_too_large"),
        # --- byte limit -> 413 --------------------------------------------------------------------------------
        *[
            HostileCase(name, request, 413, "payload_too_large")
            for name, request in (
                ("over-byte-limit", _raw("/predict", "image/jpeg", over_limit)),
                ("over-byte-limit-streamed", _raw("/predict", "image/jpeg", over_limit, streamed=True)),
                ("over-byte-limit-multipart", _form("/predict", multipart([("file", "big.jpg", over_limit)]))),
                ("over-byte-limit-v2", _json(b'{"inputs":[' + b" " * limits.max_upload_bytes + b"]}")),
            )
        ],
        # --- multipart shape -> 400 / 415 ---------------------------------------------------------------------
        HostileCase(
            "multipart-wrong-field", _form("/predict", multipart([("image", "a.jpg", good)])), 400, "invalid_request"
        ),
        HostileCase(
            "multipart-no-file", _form("/predict", multipart([("file", None, b"just text")])), 400, "invalid_request"
        ),
        HostileCase("multipart-empty", _form("/predict", multipart([])), 400, "invalid_request"),
        HostileCase(
            "multipart-no-boundary",
            _form("/predict", multipart([("file", "a.jpg", good)]), None),
            400,
            "invalid_request",
        ),
        HostileCase("multipart-garbage", _form("/predict", random_bytes), 400, "invalid_request"),
        HostileCase("content-type-text", _raw("/predict", "text/plain", good), 415, "unsupported_media_type"),
        HostileCase("content-type-json", _raw("/predict", "application/json", b"{}"), 415, "unsupported_media_type"),
        HostileCase("content-type-missing", _raw("/predict", None, good), 415, "unsupported_media_type"),
        # --- batches -----------------------------------------------------------------------------------------
        HostileCase(
            "batch-over-limit",
            _form(
                "/predict/batch", multipart([("files", f"{i}.jpg", good) for i in range(limits.max_batch_images + 1)])
            ),
            413,
            "payload_too_large",
        ),
        HostileCase(
            "batch-wrong-field", _form("/predict/batch", multipart([("images", "a.jpg", good)])), 400, "invalid_request"
        ),
        HostileCase("batch-not-multipart", _raw("/predict/batch", "image/jpeg", good), 415, "unsupported_media_type"),
        # --- malformed V2 -> 400 / 413 / 404 ------------------------------------------------------------------
        HostileCase("v2-not-json", _json(b"{inputs: nope"), 400, "invalid_request"),
        HostileCase("v2-not-an-object", _json(b"[1, 2, 3]"), 400, "invalid_request"),
        HostileCase("v2-deeply-nested", _json(b"[" * 50_000 + b"]" * 50_000), 400, "invalid_request"),
        HostileCase(
            "v2-wrong-shape",
            _json(v2_body({**image, "shape": [1, 32, 32, 1], "data": [0] * 1024})),
            400,
            "invalid_tensor",
        ),
        HostileCase(
            "v2-wrong-datatype",
            _json(v2_body({"name": "image", "datatype": "FP32", "shape": [1, 32, 32, 3], "data": pixels})),
            400,
            "invalid_tensor",
        ),
        HostileCase(
            "v2-wrong-input-name",
            _json(v2_body({**image, "name": "input_1", "shape": [1, 32, 32, 3], "data": pixels})),
            400,
            "invalid_tensor",
        ),
        HostileCase("v2-nan", _json(nan_data), 400, "invalid_tensor"),
        HostileCase(
            "v2-out-of-range",
            _json(v2_body({**image, "shape": [1, 32, 32, 3], "data": [256] * 3072})),
            400,
            "invalid_tensor",
        ),
        HostileCase(
            "v2-ragged",
            _json(v2_body({**image, "shape": [1, 32, 32, 3], "data": [[1, 2], [3]]})),
            400,
            "invalid_tensor",
        ),
        HostileCase(
            "v2-huge-shape",
            _json(v2_body({**image, "shape": [10**12, 32, 32, 3], "data": pixels})),
            400,
            "invalid_tensor",
        ),
        HostileCase(
            "v2-huge-binary-size",
            _json(v2_body({**image, "shape": [10**9, 32, 32, 3], "parameters": {"binary_data_size": 3072 * 10**9}})),
            400,
            "invalid_tensor",
        ),
        HostileCase(
            "v2-negative-shape",
            _json(v2_body({**image, "shape": [-1, 32, 32, 3], "data": pixels})),
            400,
            "invalid_tensor",
        ),
        HostileCase(
            "v2-too-many-images",
            _json(
                v2_body(
                    {
                        **image,
                        "shape": [limits.max_batch_images + 1, 32, 32, 3],
                        "data": [0] * 3072 * (limits.max_batch_images + 1),
                    }
                )
            ),
            413,
            "payload_too_large",
        ),
        HostileCase(
            "v2-header-length-past-body",
            HttpRequest(
                "POST",
                V2_INFER,
                {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": "999999"},
                b"{}",
            ),
            400,
            "invalid_request",
        ),
        HostileCase(
            "v2-unknown-model",
            _json(v2_body({**image, "shape": [1, 32, 32, 3], "data": pixels}), path="/v2/models/resnet50/infer"),
            404,
            "model_not_found",
        ),
        # --- parameters, paths, methods ------------------------------------------------------------------------
        *[
            HostileCase(f"top-k-{label}", _raw(f"/predict?top_k={value}", "image/jpeg", good), 422, "invalid_parameter")
            for value, label in bad_top_k
        ],
        HostileCase("unknown-path", HttpRequest("GET", "/../../etc/passwd"), 404, "not_found"),
        HostileCase("wrong-method", HttpRequest("DELETE", "/predict"), 405, "method_not_allowed"),
    ]
    return cases


def marked_png() -> bytes:
    """A valid 32x32 PNG carrying :data:`SECRET_MARKER` in a text chunk (for the no-image-bytes-in-logs check)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET_MARKER)
    return encode(Image.new("RGB", (32, 32), (1, 2, 3)), "PNG", pnginfo=info)
