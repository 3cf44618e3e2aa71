"""A bounded soak: constant concurrency against ``/predict`` with ``hey``, resident memory sampled."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Final

from benchmarks.config import available_cpus
from benchmarks.inputs import Workload
from benchmarks.load import hey_available, run_hey
from benchmarks.processes import HOST, RunningServer, status_kib
from reliability.client import HttpRequest, send

SAMPLE_EVERY_S: Final = 1.0
HEY_MISSING: Final = "hey is not installed (apt-get install hey)"


def run_soak(
    server: RunningServer, workload: Workload, *, seconds: float, concurrency: int, warm_up_s: float
) -> dict[str, Any]:
    """Warm up, then load the server with ``workload`` for ``seconds`` sampling VmRSS; report hey's figures
    (a :class:`benchmarks.load.LoadResult`), the server's own status counts and the memory drift."""
    if not hey_available():
        return {"skipped": HEY_MISSING}
    cpus = available_cpus()  # hey on every CPU, as many OS threads as there are
    run_hey(server.port, workload, concurrency=concurrency, seconds=warm_up_s, cpus=cpus)
    counted_before = server_side_statuses(server.port)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            samples.append((round(time.monotonic() - started, 2), status_kib(server.pid, "VmRSS")))
            stop.wait(SAMPLE_EVERY_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        load = run_hey(server.port, workload, concurrency=concurrency, seconds=seconds, cpus=cpus)
    finally:
        stop.set()
        sampler.join()
    samples.append((round(time.monotonic() - started, 2), status_kib(server.pid, "VmRSS")))
    counted_after = server_side_statuses(server.port)
    # hey keeps per-request statuses for its first million answers only: the server's own counters cover them all.
    served = {status: counted_after[status] - counted_before.get(status, 0) for status in counted_after}
    served = {status: count for status, count in served.items() if count}
    start_kib, middle_kib, end_kib = samples[0][1], samples[len(samples) // 2][1], samples[-1][1]
    return {
        **load.as_dict(),
        "rss_mib": {
            "start": round(start_kib / 1024, 1),
            "middle": round(middle_kib / 1024, 1),
            "end": round(end_kib / 1024, 1),
            "max": round(max(kib for _, kib in samples) / 1024, 1),
        },
        "rss_drift_mib": round((end_kib - start_kib) / 1024, 1),
        "rss_drift_percent": round(100 * (end_kib - start_kib) / start_kib, 1),
        "rss_samples": samples,
        "server_side_statuses": served,
        "zero_errors": load.errors == 0 and load.non_2xx == 0 and load.requests > 0 and set(served) == {"200"},
    }


def server_side_statuses(port: int) -> dict[str, int]:
    """``POST /predict`` answers by status so far, from the server's Prometheus counters."""
    text = send(HOST, port, HttpRequest("GET", "/metrics")).body.decode()
    pattern = r'cifar10_http_requests_total\{method="POST",route="/predict",status="(\d+)"\} ([\d.e+]+)'
    return {status: int(float(count)) for status, count in re.findall(pattern, text)}
