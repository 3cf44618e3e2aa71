"""The hostile-input catalogue: every malformed, oversized or deceptive request, each with the status and error code
the service documents for it; the reliability tests and the report both send it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from PIL import Image

from benchmarks.inputs import MULTIPART_BOUNDARY, MULTIPART_CONTENT_TYPE, V2_INFER_PATH, encode, multipart
from benchmarks.processes import HOST, status_kib
from reliability.client import HttpAnswer, HttpRequest, send
from service.settings import env_name

WARM_UP_REQUESTS: Final = 5


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

    @property
    def bomb(self) -> bool:
        """A decompression bomb, so named: it must be refused from the header, before any pixel is decoded."""
        return "bomb" in self.name

    @property
    def per_file(self) -> bool:
        """A batch answered 200, the error being the entry of its one file."""
        return self.status == 200

    def error_entry(self, document: Any) -> Any:
        """The error object in the answer's JSON ``document``: the document itself, or the batch's one entry."""
        if not self.per_file:
            return document
        (entry,) = document["results"]
        return entry

    def judge(self, answer: HttpAnswer) -> dict[str, Any]:
        """What was expected, what came back (status, error code, milliseconds), and whether they match."""
        code = None
        with contextlib.suppress(ValueError, KeyError, IndexError, TypeError, AttributeError):
            code = self.error_entry(answer.json()).get("code")
        return {
            "name": self.name,
            "expected_status": self.status,
            "expected_code": self.code,
            "status": answer.status,
            "code": code,
            "ms": round(answer.seconds * 1000, 2),
            "ok": answer.outcome == "complete" and answer.status == self.status and code == self.code,
        }


def sample_jpeg(size: tuple[int, int] = (32, 32), seed: int = 0) -> bytes:
    """A deterministic, photo-like JPEG (smooth gradients plus noise)."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) * 127 / max(width, 1)], -1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    return encode(Image.fromarray(pixels), "JPEG", quality=90)


def jpeg_request(seed: int = 0) -> HttpRequest:
    """Ordinary traffic: ``POST /predict`` with a 32x32 JPEG body."""
    return HttpRequest("POST", "/predict", {"Content-Type": "image/jpeg"}, sample_jpeg(seed=seed))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(width: int, height: int, bit_depth: int, colour_type: int, pixel_data: bytes) -> bytes:
    """A PNG of the given header and compressed pixel data (which need not match the header)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = png_chunk(b"IHDR", header) + png_chunk(b"IDAT", pixel_data) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def png_declaring(width: int, height: int) -> bytes:
    """A ~70-byte PNG whose header declares ``width`` x ``height`` RGB pixels."""
    return png(width, height, 8, 2, zlib.compress(b"\0" * 64))


def raw_png(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0, row_filter: int = 0) -> bytes:
    """A valid PNG of zero pixels, every row carrying ``row_filter`` (4, Paeth: the costliest to undo)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    row = bytes([row_filter]) + b"\0" * math.ceil(width * channels * bit_depth / 8)
    compressor = zlib.compressobj(9)
    rows_per_chunk = max(1, (1 << 20) // len(row))
    rows = (row * min(rows_per_chunk, height - start) for start in range(0, height, rows_per_chunk))
    return png(width, height, bit_depth, colour_type, b"".join(map(compressor.compress, rows)) + compressor.flush())


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to declare ``width`` x ``height``."""
    data = encode(Image.new("RGB", (16, 16), (200, 30, 30)), "JPEG")
    at = data.index(b"\xff\xc0") + 5  # baseline SOF0: length(2) precision(1), then height(2) width(2)
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4 :]


def gif_declaring(width: int, height: int) -> bytes:
    """A 1x1 GIF whose logical screen is rewritten to ``width`` x ``height``."""
    data = encode(Image.new("P", (1, 1)), "GIF")
    return data[:6] + struct.pack("<HH", width, height) + data[10:]


def post(path: str, content_type: str | None, body: bytes, *, streamed: bool = False) -> HttpRequest:
    """``POST path`` with ``body`` as it is, and the content type unless it is ``None``."""
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return HttpRequest("POST", path, headers, body, streamed)


def form(
    path: str, parts: Sequence[tuple[str, str | None, bytes]], boundary: str | None = MULTIPART_BOUNDARY
) -> HttpRequest:
    """``POST path`` with a multipart body of (field, file name, content) parts, naming ``boundary`` unless None."""
    return post(path, "multipart/form-data" + (f"; boundary={boundary}" if boundary else ""), multipart(parts))


def json_post(body: bytes, path: str = V2_INFER_PATH) -> HttpRequest:
    """``POST path`` (the V2 infer route unless given) with a JSON ``body``."""
    return post(path, "application/json", body)


def v2(tensor: Mapping[str, object], path: str = V2_INFER_PATH) -> HttpRequest:
    """A V2 infer request (JSON) with one input tensor."""
    return json_post(json.dumps({"inputs": [dict(tensor)]}).encode(), path)


def build_catalogue(limits: Limits) -> list[HostileCase]:
    """Every hostile case, for a server running with ``limits``, grouped by the answer the service documents."""
    good = sample_jpeg()
    random_bytes = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    big_png = encode(Image.new("RGB", (1100, math.ceil(limits.max_image_pixels / 1000) + 1), (0, 90, 0)), "PNG")
    truncated_png = encode(Image.new("RGB", (64, 64), (10, 20, 30)), "PNG")
    over_limit = b"\xff\xd8" + b"\0" * limits.max_upload_bytes
    html = b"<!doctype html><html><script>alert(document.cookie)</script><img src=x onerror=alert(1)></html>"
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
        b'<script>alert(1)</script><rect width="32" height="32" fill="red"/></svg>'
    )
    image = {"name": "image", "datatype": "UINT8"}
    tensor = {**image, "shape": [1, 32, 32, 3], "data": [0] * 3072}
    nan_data = b'{"inputs":[{"name":"image","datatype":"UINT8","shape":[1,32,32,3],"data":[NaN' + b",0" * 3071 + b"]}]}"
    too_many = limits.max_batch_images + 1
    bad_top_k = {"zero": "0", "eleven": "11", "text": "abc", "negative": "-1", "fraction": "1.5", "empty": ""}
    binary_v2 = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": "999999"}
    documented: dict[tuple[int, str], dict[str, HttpRequest]] = {
        (400, "invalid_image"): {
            "empty-body": post("/predict", "image/png", b""),
            "truncated-jpeg": post("/predict", "image/jpeg", sample_jpeg((64, 64))[:300]),
            "truncated-png": post("/predict", "image/png", truncated_png[:80]),
            "random-bytes": post("/predict", "application/octet-stream", random_bytes),
            "text-as-png": post("/predict", "image/png", b"hello, I am not a picture"),
            "html-as-png": post("/predict", "image/png", html),
            "svg": post("/predict", "image/svg+xml", svg),
            "svg-multipart": form("/predict", [("file", "x.svg", svg)]),
            "eps": post("/predict", "image/eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n"),
        },
        (413, "image_too_large"): {
            "png-bomb-header-100k": post("/predict", "image/png", png_declaring(100_000, 100_000)),
            "png-bomb-1bit-20k": post("/predict", "image/png", raw_png(20_000, 20_000, bit_depth=1)),
            "jpeg-bomb-header-65k": post("/predict", "image/jpeg", jpeg_declaring(65_000, 65_000)),
            "gif-bomb-screen-65k": post("/predict", "image/gif", gif_declaring(65_535, 65_535)),
            "over-pixel-limit": post("/predict", "image/png", big_png),
        },
        (200, "image_too_large"): {
            "bomb-in-batch": form("/predict/batch", [("files", "b.png", png_declaring(60_000, 60_000))]),
        },
        (413, "payload_too_large"): {
            "over-byte-limit": post("/predict", "image/jpeg", over_limit),
            "over-byte-limit-streamed": post("/predict", "image/jpeg", over_limit, streamed=True),
            "over-byte-limit-multipart": form("/predict", [("file", "big.jpg", over_limit)]),
            "over-byte-limit-v2": json_post(b'{"inputs":[' + b" " * limits.max_upload_bytes + b"]}"),
            "batch-over-limit": form("/predict/batch", [("files", f"{i}.jpg", good) for i in range(too_many)]),
            "v2-too-many-images": v2({**tensor, "shape": [too_many, 32, 32, 3], "data": [0] * 3072 * too_many}),
        },
        (400, "invalid_request"): {
            "multipart-wrong-field": form("/predict", [("image", "a.jpg", good)]),
            "multipart-no-file": form("/predict", [("file", None, b"just text")]),
            "multipart-empty": form("/predict", []),
            "multipart-no-boundary": form("/predict", [("file", "a.jpg", good)], boundary=None),
            "multipart-garbage": post("/predict", MULTIPART_CONTENT_TYPE, random_bytes),
            "batch-wrong-field": form("/predict/batch", [("images", "a.jpg", good)]),
            "v2-not-json": json_post(b"{inputs: nope"),
            "v2-not-an-object": json_post(b"[1, 2, 3]"),
            "v2-deeply-nested": json_post(b"[" * 50_000 + b"]" * 50_000),
            "v2-header-length-past-body": HttpRequest("POST", V2_INFER_PATH, binary_v2, b"{}"),
        },
        (415, "unsupported_media_type"): {
            "content-type-text": post("/predict", "text/plain", good),
            "content-type-json": post("/predict", "application/json", b"{}"),
            "content-type-missing": post("/predict", None, good),
            "batch-not-multipart": post("/predict/batch", "image/jpeg", good),
        },
        (400, "invalid_tensor"): {
            "v2-wrong-shape": v2({**tensor, "shape": [1, 32, 32, 1], "data": [0] * 1024}),
            "v2-wrong-datatype": v2({**tensor, "datatype": "FP32"}),
            "v2-wrong-input-name": v2({**tensor, "name": "input_1"}),
            "v2-nan": json_post(nan_data),
            "v2-out-of-range": v2({**tensor, "data": [256] * 3072}),
            "v2-ragged": v2({**tensor, "data": [[1, 2], [3]]}),
            "v2-huge-shape": v2({**tensor, "shape": [10**12, 32, 32, 3]}),
            "v2-huge-binary-size": v2(
                {**image, "shape": [10**9, 32, 32, 3], "parameters": {"binary_data_size": 3072 * 10**9}}
            ),
            "v2-negative-shape": v2({**tensor, "shape": [-1, 32, 32, 3]}),
        },
        (404, "model_not_found"): {"v2-unknown-model": v2(tensor, "/v2/models/resnet50/infer")},
        (422, "invalid_parameter"): {
            f"top-k-{label}": post(f"/predict?top_k={value}", "image/jpeg", good) for label, value in bad_top_k.items()
        },
        (404, "not_found"): {"unknown-path": HttpRequest("GET", "/../../etc/passwd")},
        (405, "method_not_allowed"): {"wrong-method": HttpRequest("DELETE", "/predict")},
    }
    return [
        HostileCase(name, request, status, code)
        for (status, code), requests in documented.items()
        for name, request in requests.items()
    ]


@dataclass(frozen=True, slots=True)
class CatalogueRun:
    """The answers to the warm-up and to every case, and the server's peak-RSS growth during the cases."""

    warm_up: list[HttpAnswer]
    answers: list[tuple[HostileCase, HttpAnswer]]
    peak_rss_growth_kib: int

    def summary(self) -> dict[str, Any]:
        """Every case judged, how many passed, the slowest answer and the peak-RSS growth, JSON-ready."""
        results = [case.judge(answer) for case, answer in self.answers]
        return {
            "cases": len(results),
            "passed": sum(result["ok"] for result in results),
            "slowest_ms": max(result["ms"] for result in results),
            "peak_rss_growth_mib": round(self.peak_rss_growth_kib / 1024, 1),
            "results": results,
        }


def with_request_id(request: HttpRequest, request_id: str) -> HttpRequest:
    """``request`` with an ``X-Request-ID`` header (to find it in the server's access log)."""
    return dataclasses.replace(request, headers={**request.headers, "X-Request-ID": request_id})


def send_catalogue(port: int, pid: int, cases: Iterable[HostileCase], warm_up: HttpRequest) -> CatalogueRun:
    """``warm_up`` a few times (to settle allocator arenas), then every case, with ``pid``'s VmHWM around them."""
    warmed = [send(HOST, port, with_request_id(warm_up, f"warm-{index}")) for index in range(WARM_UP_REQUESTS)]
    peak_before = status_kib(pid, "VmHWM")
    answers = [(case, send(HOST, port, with_request_id(case.request, f"hostile-{case.name}"))) for case in cases]
    return CatalogueRun(warmed, answers, status_kib(pid, "VmHWM") - peak_before)
