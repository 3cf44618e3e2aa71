"""A bounded soak: constant concurrency against ``/predict`` with ``hey`` (or ``wrk``), resident memory sampled."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

from benchmarks.reliability.client import HttpRequest, send
from benchmarks.reliability.server import ServiceProcess

SAMPLE_EVERY_S: Final = 1.0


def load_generator() -> str | None:
    """``hey`` or ``wrk``, whichever is installed first; None when neither is."""
    for tool in ("hey", "wrk"):
        if shutil.which(tool):
            return tool
    return None


def run_soak(
    server: ServiceProcess, body: Path, *, seconds: float, concurrency: int, warm_up_s: float
) -> dict[str, Any]:
    """Warm up, then load ``/predict`` for ``seconds`` sampling VmRSS; report throughput, errors and memory drift."""
    tool = load_generator()
    if tool is None:
        return {"skipped": "neither hey nor wrk is installed (apt-get install hey)"}
    _run_tool(tool, server, body, seconds=warm_up_s, concurrency=concurrency)
    counted_before = server_side_statuses(server)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            samples.append((round(time.monotonic() - started, 2), server.memory_kib()))
            stop.wait(SAMPLE_EVERY_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = _run_tool(tool, server, body, seconds=seconds, concurrency=concurrency)
    finally:
        stop.set()
        sampler.join()
    samples.append((round(time.monotonic() - started, 2), server.memory_kib()))
    counted_after = server_side_statuses(server)
    # hey keeps per-request statuses for its first million answers only: the server's own counters cover them all.
    served = {status: counted_after[status] - counted_before.get(status, 0) for status in counted_after}
    served = {status: count for status, count in served.items() if count}
    start_kib, middle_kib, end_kib = samples[0][1], samples[len(samples) // 2][1], samples[-1][1]
    result.update(
        {
            "tool": tool,
            "concurrency": concurrency,
            "seconds": seconds,
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
            "zero_errors": result["errors"] == 0
            and result["non_200"] == 0
            and result["requests"] > 0
            and set(served) == {"200"},
        }
    )
    return result


def server_side_statuses(server: ServiceProcess) -> dict[str, int]:
    """``POST /predict`` answers by status so far, from the server's Prometheus counters."""
    text = send("127.0.0.1", server.port, HttpRequest("GET", "/metrics")).body.decode()
    pattern = r'cifar10_http_requests_total\{method="POST",route="/predict",status="(\d+)"\} ([\d.e+]+)'
    return {status: int(float(count)) for status, count in re.findall(pattern, text)}


def _run_tool(tool: str, server: ServiceProcess, body: Path, *, seconds: float, concurrency: int) -> dict[str, Any]:
    url = f"{server.url}/predict"
    if tool == "hey":
        command = [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            str(concurrency),
            "-m",
            "POST",
            "-T",
            "image/jpeg",
            "-D",
            str(body),
            url,
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
        return parse_hey(completed.stdout)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "image/jpeg"\n'
            f'local f = io.open("{body}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        )
    threads = min(concurrency, 2)
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(concurrency),
        "-d",
        f"{int(seconds)}s",
        "--latency",
        "-s",
        script.name,
        url,
    ]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
    finally:
        Path(script.name).unlink()
    return parse_wrk(completed.stdout)


def parse_hey(output: str) -> dict[str, Any]:
    """Requests, rate, latency percentiles, status counts and errors from hey's summary."""
    summary, _, error_part = output.partition("Error distribution:")
    statuses = {code: int(count) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", summary)}
    errors = sum(int(count) for count in re.findall(r"^\s+\[(\d+)\]", error_part, flags=re.MULTILINE))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    percentiles = {f"p{p}_ms": round(float(s) * 1000, 2) for p, s in re.findall(r"(\d+)% in ([\d.]+) secs", output)}
    return {
        "requests": sum(statuses.values()) + errors,
        "requests_per_second": float(rate.group(1)) if rate else None,
        "statuses": statuses,
        "non_200": sum(count for code, count in statuses.items() if code != "200"),
        "errors": errors,
        "latency": {key: percentiles[key] for key in ("p50_ms", "p90_ms", "p99_ms") if key in percentiles},
    }


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, rate, latency percentiles and errors from wrk's summary (with --latency)."""
    requests = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    percentiles = {
        f"p{p}_ms": round(float(value) * units[unit], 2)
        for p, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", output, flags=re.MULTILINE)
    }
    total = int(requests.group(1)) if requests else 0
    non_200 = int(non_2xx.group(1)) if non_2xx else 0
    return {
        "requests": total,
        "requests_per_second": float(rate.group(1)) if rate else None,
        "statuses": {"200": total - non_200},
        "non_200": non_200,
        "errors": sum(int(value) for value in socket_errors.groups()) if socket_errors else 0,
        "latency": {key: percentiles[key] for key in ("p50_ms", "p90_ms", "p99_ms") if key in percentiles},
    }
