"""Cold start: process start → first 200 from the readiness route → first successful prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.config import BenchPlan, available_cpus, split_cpus
from benchmarks.importtime import SERVICE_IMPORTS, TENSORFLOW_IMPORTS, measure_imports
from benchmarks.processes import RunningServer, ServerSpec, ServerStartError
from benchmarks.progress import Progress
from benchmarks.servers import compared_specs
from benchmarks.stats import median_of
from benchmarks.workloads import Workload


def measure_start(spec: ServerSpec, workload: Workload, cpus: tuple[int, ...], log_dir: Path) -> dict[str, Any]:
    """One start: seconds to ready, seconds to the first prediction, and memory right after it."""
    with RunningServer(spec, log_dir, cpus) as server:
        first = server.wait_for_200("POST", workload.path, workload.body(), workload.headers(), request_timeout=60.0)
        return {"ready_seconds": server.ready_seconds, "first_prediction_seconds": first, "memory": server.memory()}


def run_coldstart(plan: BenchPlan, workload: Workload, log_dir: Path, progress: Progress) -> dict[str, Any]:
    """Start each server `cold_start_repeats` times, alternating servers, and report medians."""
    server_cpus, _ = split_cpus(available_cpus())
    threads = len(server_cpus)
    specs, notes = compared_specs(plan, threads)
    samples: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in specs}
    for repeat in range(plan.cold_start_repeats):
        for spec in specs:
            try:
                sample = measure_start(spec, workload, server_cpus, log_dir)
            except ServerStartError as error:
                notes[spec.name] = f"failed: {error}"
                continue
            samples[spec.name].append(sample)
            progress(
                "coldstart",
                f"{spec.name} start {repeat + 1}/{plan.cold_start_repeats}: ready {sample['ready_seconds']:.2f} s, "
                f"first prediction {sample['first_prediction_seconds']:.2f} s",
            )
    summary: dict[str, Any] = {}
    for name, runs in samples.items():
        if not runs:
            continue
        summary[name] = {
            "ready_seconds_median": median_of([run["ready_seconds"] for run in runs]),
            "first_prediction_seconds_median": median_of([run["first_prediction_seconds"] for run in runs]),
            "rss_mib_after_first_prediction_median": median_of([run["memory"]["rss_mib"] for run in runs]),
            "runs": runs,
        }
    imports = {"service": measure_imports(SERVICE_IMPORTS)}
    if plan.keras_model is not None:
        imports["tf_service"] = measure_imports(TENSORFLOW_IMPORTS)
    progress(
        "coldstart", "import times: " + ", ".join(f"{k} {v.get('wall_seconds', 0):.2f} s" for k, v in imports.items())
    )
    return {
        "server_cpus": list(server_cpus),
        "repeats": plan.cold_start_repeats,
        "servers": summary,
        "imports": imports,
        "notes": notes,
    }
