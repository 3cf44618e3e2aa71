"""Check a running service container over HTTP: readiness, real predictions, errors and the V2 protocol.

Used by ``scripts/image-test.sh`` against the container it starts. Standard library only, so it runs
with any Python 3.11 on the host. Exits 0 when every check passes, 1 with the failed check otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_NAME = "cifar10-cnn"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp"})
PREDICTION_KEYS = frozenset({"label", "index", "confidence", "band", "accepted", "prediction", "probabilities"})
# The committed model files that CIFAR10_MODEL=fp32|int8 select (service.settings.MODEL_FILES).
MODEL_FILES = {"fp32": "cifar10_cnn.onnx", "int8": "cifar10_cnn.int8.onnx"}


class CheckFailedError(AssertionError):
    """One check of the running container did not hold."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, headers and the body decoded as JSON (``None`` when it is not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def request(url: str, *, data: bytes | None = None, content_type: str | None = None, timeout: float = 10) -> Reply:
    """Send one request and return the reply, also for 4xx/5xx statuses."""
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, reply_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, raw = error.code, dict(error.headers), error.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return Reply(status, reply_headers, body)


def multipart(files: Sequence[tuple[str, Path]]) -> tuple[bytes, str]:
    """Encode ``(field, path)`` pairs as a multipart/form-data body; return it with its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for field, path in files:
        header = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{path.name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(header.encode() + path.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def expect(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailedError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailedError(message)


def wait_until_ready(base: str, timeout_s: float) -> float:
    """Poll ``GET /ready`` until it answers 200; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if request(f"{base}/ready", timeout=2).status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.5)
    raise CheckFailedError(f"{base}/ready did not answer 200 within {timeout_s:.0f} s")


def check_prediction(answer: Any, labels: Sequence[str], where: str) -> None:
    """A ``/predict`` answer has the contract's shape and is consistent with itself."""
    expect(isinstance(answer, dict), f"{where}: answer is not a JSON object: {answer!r}")
    expect(answer.keys() >= PREDICTION_KEYS, f"{where}: missing keys {sorted(PREDICTION_KEYS - answer.keys())}")
    probabilities = answer["probabilities"]
    expect(list(probabilities) == list(labels), f"{where}: probabilities not keyed by the 10 labels in order")
    expect(math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-3), f"{where}: probabilities do not sum to 1")
    best = max(probabilities, key=probabilities.__getitem__)
    expect(answer["label"] == best, f"{where}: label {answer['label']!r} is not the most probable {best!r}")
    expect(labels[answer["index"]] == answer["label"], f"{where}: index {answer['index']} does not match label")
    expect(math.isclose(answer["confidence"], probabilities[best], abs_tol=1e-6), f"{where}: confidence mismatch")
    expect(answer["band"] in {"high", "medium", "low"}, f"{where}: unknown band {answer['band']!r}")


def run_checks(base: str, images: Sequence[Path], variant: str) -> list[str]:
    """Every check against the service at ``base``; return one line per passed check."""
    passed: list[str] = []
    expect(request(f"{base}/health").status == 200, "GET /health is not 200")
    model = request(f"{base}/model")
    expect(model.status == 200, f"GET /model answered {model.status}")
    served = model.body["file"]
    expect(served == MODEL_FILES[variant], f"serving {served!r}, expected {MODEL_FILES[variant]!r} for {variant}")
    labels: list[str] = model.body["labels"]
    expect(len(labels) == 10, f"expected 10 labels, got {labels}")
    passed.append(
        f"model {model.body['name']} file={served} precision={model.body['precision']} "
        f"onnxruntime={model.body['onnxruntime_version']}"
    )

    predicted = []
    for path in images:
        body, content_type = multipart([("file", path)])
        reply = request(f"{base}/predict", data=body, content_type=content_type)
        expect(reply.status == 200, f"multipart /predict {path.name}: {reply.status} {reply.body}")
        expect("x-request-id" in {key.lower() for key in reply.headers}, "no X-Request-ID header")
        check_prediction(reply.body, labels, f"multipart {path.name}")
        predicted.append(reply.body["label"])
    passed.append(f"multipart /predict on {len(images)} images: {', '.join(predicted)}")

    raw = request(f"{base}/predict?top_k=3", data=images[0].read_bytes(), content_type="application/octet-stream")
    expect(raw.status == 200, f"raw /predict: {raw.status} {raw.body}")
    check_prediction(raw.body, labels, "raw body")
    expect(raw.body["label"] == predicted[0], "raw body and multipart upload of the same image disagree")
    top = [entry["probability"] for entry in raw.body["top_k"]]
    expect(len(top) == 3 and top == sorted(top, reverse=True), f"top_k=3 not 3 sorted entries: {raw.body['top_k']}")
    passed.append("raw-body /predict?top_k=3 agrees with multipart")

    body, content_type = multipart([("files", path) for path in images[:3]])
    batch = request(f"{base}/predict/batch", data=body, content_type=content_type)
    expect(batch.status == 200, f"/predict/batch: {batch.status} {batch.body}")
    results = batch.body["results"]
    expect([result["label"] for result in results] == predicted[:3], "batch results differ from single predictions")
    passed.append(f"/predict/batch of {len(results)} in order")

    bad = request(f"{base}/predict", data=b"not an image", content_type="image/jpeg")
    expect(bad.status == 400 and isinstance(bad.body, dict) and "error" in bad.body, f"bad image: {bad.status}")
    passed.append(f"undecodable image -> 400 {bad.body['error']!r}")

    v2_ready = request(f"{base}/v2/models/{MODEL_NAME}/ready")
    expect(v2_ready.status == 200, f"V2 model ready: {v2_ready.status}")
    tensor = {"name": "image", "datatype": "UINT8", "shape": [2, 32, 32, 3], "data": [128] * (2 * 32 * 32 * 3)}
    infer = request(
        f"{base}/v2/models/{MODEL_NAME}/infer",
        data=json.dumps({"inputs": [tensor]}).encode(),
        content_type="application/json",
    )
    expect(infer.status == 200, f"V2 infer: {infer.status} {infer.body}")
    output = infer.body["outputs"][0]
    expect(output["shape"] == [2, 10] and len(output["data"]) == 20, f"V2 output shape {output['shape']}")
    passed.append("V2 /infer of a [2,32,32,3] UINT8 tensor -> [2,10]")

    metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    expect("# TYPE" in metrics, "GET /metrics is not Prometheus text")
    passed.append("/metrics in Prometheus format")
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point used by scripts/image-test.sh."""
    parser = argparse.ArgumentParser(description="Check a running cifar10-serving container over HTTP.")
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:18080")
    parser.add_argument("--images", type=Path, required=True, help="folder of test images")
    parser.add_argument("--model", choices=sorted(MODEL_FILES), default="fp32", help="the model that should serve")
    parser.add_argument("--ready-timeout", type=float, default=90.0)
    arguments = parser.parse_args(argv)
    images = sorted(path for path in arguments.images.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
    try:
        expect(bool(images), f"no images under {arguments.images}")
        waited = wait_until_ready(arguments.url, arguments.ready_timeout)
        print(f"smoke: ready after {waited:.1f} s")
        for line in run_checks(arguments.url, images, arguments.model):
            print(f"smoke: ok   {line}")
    except (CheckFailedError, KeyError, TypeError, OSError) as failure:
        print(f"smoke: FAIL {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
