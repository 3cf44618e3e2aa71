"""Large photos: `/predict` latency for a multi-megapixel JPEG made at benchmark time (16 MP full, 12 MP smoke)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.config import BenchPlan, available_cpus, split_cpus
from benchmarks.inputs import large_photo_jpeg, multipart_body, multipart_content_type
from benchmarks.processes import RunningServer, ServerStartError, request
from benchmarks.progress import Progress
from benchmarks.servers import compared_specs
from benchmarks.stats import summarize_latencies


def run_largephoto(plan: BenchPlan, log_dir: Path, progress: Progress) -> dict[str, Any]:
    """Post the large photo sequentially to this service, the TensorFlow-path service and the ceiling."""
    photo, (width, height) = large_photo_jpeg(plan.large_photo_megapixels)
    body = multipart_body(photo, filename="photo.jpg")
    headers = {"Content-Type": multipart_content_type()}
    progress("largephoto", f"photo {width}×{height} ({width * height / 1e6:.1f} MP, {len(photo) / 1e6:.1f} MB JPEG)")
    server_cpus, _ = split_cpus(available_cpus())
    threads = len(server_cpus)
    specs, notes = compared_specs(plan, threads)
    servers: dict[str, Any] = {}
    for spec in specs:
        try:
            with RunningServer(spec, log_dir, server_cpus) as server:
                request(server.port, "POST", "/predict", body=body, headers=headers)  # warm-up
                latencies: list[float] = []
                statuses: list[int] = []
                answer = b""
                for _ in range(plan.large_photo_requests):
                    started = time.perf_counter()
                    status, answer = request(server.port, "POST", "/predict", body=body, headers=headers)
                    latencies.append(time.perf_counter() - started)
                    statuses.append(status)
        except ServerStartError as error:
            notes[spec.name] = f"failed: {error}"
            continue
        servers[spec.name] = {
            **summarize_latencies(latencies),
            "statuses": sorted(set(statuses)),
            "answer": answer[:300].decode(errors="replace"),
        }
        progress(
            "largephoto", f"{spec.name}: p50 {servers[spec.name]['p50_ms']:.1f} ms, statuses {sorted(set(statuses))}"
        )
    return {
        "width": width,
        "height": height,
        "megapixels": width * height / 1e6,
        "jpeg_bytes": len(photo),
        "requests": plan.large_photo_requests,
        "servers": servers,
        "notes": notes,
    }
