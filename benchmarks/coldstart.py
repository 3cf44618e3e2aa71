"""Cold start: process start → first 200 from the readiness route → first successful prediction, and the import
cost per package in a fresh interpreter (`python -X importtime`) that explains part of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from statistics import median
from typing import Any

from benchmarks.config import PROJECT_ROOT
from benchmarks.context import BenchContext
from benchmarks.processes import RunningServer

SERVICE_IMPORTS = (
    "numpy, onnxruntime, PIL.Image, starlette.applications, python_multipart, prometheus_client, uvicorn, service.app"
)
TENSORFLOW_IMPORTS = "numpy, PIL.Image, tensorflow, keras, fastapi, uvicorn, benchmarks.tf_service"


def parse_importtime(stderr: str) -> dict[str, float]:
    """Cumulative milliseconds per top-level package from `-X importtime` output (outermost imports only)."""
    per_root: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith("  "):  # nested: already counted in its parent's cumulative time
            continue
        root = name.strip().split(".")[0]
        per_root[root] = per_root.get(root, 0.0) + int(cumulative) / 1000
    return per_root


def measure_imports(modules: str) -> dict[str, Any]:
    """Wall-clock seconds to import `modules` in a new interpreter, and the ms each top-level package took."""
    command = [sys.executable, "-X", "importtime", "-c", f"import {modules}"]
    quiet = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.monotonic()
    completed = subprocess.run(
        command, cwd=PROJECT_ROOT, env=quiet, capture_output=True, text=True, timeout=300, check=False
    )
    wall = time.monotonic() - started
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1:]}
    roots = {module.split(".")[0] for module in modules.split(", ")}
    packages = sorted(
        (item for item in parse_importtime(completed.stderr).items() if item[0] in roots), key=lambda item: -item[1]
    )
    return {"wall_seconds": wall, "packages_ms": dict(packages)}


def run(context: BenchContext) -> dict[str, Any]:
    """Start each server `cold_start_repeats` times, alternating servers, and report medians."""
    plan, workload = context.plan, context.workloads["multipart"]
    specs, notes = context.compared_specs()
    starts: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in specs}

    def measure(server: RunningServer) -> dict[str, Any]:
        """One start: seconds to ready, seconds to the first prediction, and memory right after it."""
        headers = {"Content-Type": workload.content_type}
        first = server.wait_for_200("POST", workload.path, workload.body(), headers, request_timeout=60)
        return {"ready_seconds": server.ready_seconds, "first_prediction_seconds": first, "memory": server.memory()}

    for repeat in range(plan.cold_start_repeats):
        for name, start in context.each_server(specs, measure, notes).items():
            starts[name].append(start)
            ready, first = start["ready_seconds"], start["first_prediction_seconds"]
            context.progress(
                "coldstart", f"{name} start {repeat + 1}: ready {ready:.2f} s, first prediction {first:.2f} s"
            )
    servers = {
        name: {
            "ready_seconds_median": median([run["ready_seconds"] for run in runs]),
            "first_prediction_seconds_median": median([run["first_prediction_seconds"] for run in runs]),
            "rss_mib_after_first_prediction_median": median([run["memory"]["rss_mib"] for run in runs]),
            "runs": runs,
        }
        for name, runs in starts.items()
        if runs
    }
    imports = {"service": measure_imports(SERVICE_IMPORTS)}
    if plan.keras_model is not None:
        imports["tf_service"] = measure_imports(TENSORFLOW_IMPORTS)
    return {
        "server_cpus": list(context.server_cpus),
        "repeats": plan.cold_start_repeats,
        "servers": servers,
        "imports": imports,
        "notes": notes,
    }
