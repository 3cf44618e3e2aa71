"""Large photos: `/predict` latency for a multi-megapixel JPEG made at benchmark time (16 MP full, 12 MP smoke)."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.context import BenchContext
from benchmarks.inputs import large_photo_jpeg, multipart_body, multipart_content_type
from benchmarks.processes import RunningServer, request
from benchmarks.stats import summarize_latencies


def run(context: BenchContext) -> dict[str, Any]:
    """Post the large photo sequentially to this service, the TensorFlow-path service and the ceiling."""
    requests = context.plan.large_photo_requests
    photo, (width, height) = large_photo_jpeg(context.plan.large_photo_megapixels)
    body = multipart_body(photo, filename="photo.jpg")
    headers = {"Content-Type": multipart_content_type()}
    context.progress("largephoto", f"{width}×{height} ({width * height / 1e6:.1f} MP, {len(photo) / 1e6:.1f} MB JPEG)")
    specs, notes = context.compared_specs()

    def measure(server: RunningServer) -> dict[str, Any]:
        request(server.port, "POST", "/predict", body=body, headers=headers)  # warm-up
        latencies: list[float] = []
        statuses: list[int] = []
        answer = b""
        for _ in range(requests):
            started = time.perf_counter()
            status, answer = request(server.port, "POST", "/predict", body=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses.append(status)
        summary = {**summarize_latencies(latencies), "statuses": sorted(set(statuses))}
        context.progress(
            "largephoto", f"{server.spec.name}: p50 {summary['p50_ms']:.1f} ms, statuses {summary['statuses']}"
        )
        return {**summary, "answer": answer[:300].decode(errors="replace")}

    return {
        "width": width,
        "height": height,
        "megapixels": width * height / 1e6,
        "jpeg_bytes": len(photo),
        "requests": requests,
        "servers": context.each_server(specs, measure, notes),
        "notes": notes,
    }
