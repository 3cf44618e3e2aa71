"""Cold start: process start → first 200 from the readiness route → first successful prediction."""

from __future__ import annotations

from typing import Any

from benchmarks.context import BenchContext
from benchmarks.importtime import SERVICE_IMPORTS, TENSORFLOW_IMPORTS, measure_imports
from benchmarks.processes import RunningServer
from benchmarks.stats import median_of


def run(context: BenchContext) -> dict[str, Any]:
    """Start each server `cold_start_repeats` times, alternating servers, and report medians."""
    plan, workload = context.plan, context.workloads["multipart"]
    specs, notes = context.compared_specs()
    samples: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in specs}

    def measure(server: RunningServer) -> dict[str, Any]:
        """One start: seconds to ready, seconds to the first prediction, and memory right after it."""
        first = server.wait_for_200("POST", workload.path, workload.body(), workload.headers(), request_timeout=60)
        return {"ready_seconds": server.ready_seconds, "first_prediction_seconds": first, "memory": server.memory()}

    for repeat in range(plan.cold_start_repeats):
        for name, sample in context.each_server(specs, measure, notes).items():
            samples[name].append(sample)
            context.progress(
                "coldstart",
                f"{name} start {repeat + 1}/{plan.cold_start_repeats}: ready {sample['ready_seconds']:.2f} s, "
                f"first prediction {sample['first_prediction_seconds']:.2f} s",
            )
    summary = {
        name: {
            "ready_seconds_median": median_of([run["ready_seconds"] for run in runs]),
            "first_prediction_seconds_median": median_of([run["first_prediction_seconds"] for run in runs]),
            "rss_mib_after_first_prediction_median": median_of([run["memory"]["rss_mib"] for run in runs]),
            "runs": runs,
        }
        for name, runs in samples.items()
        if runs
    }
    imports = {"service": measure_imports(SERVICE_IMPORTS)}
    if plan.keras_model is not None:
        imports["tf_service"] = measure_imports(TENSORFLOW_IMPORTS)
    context.progress(
        "coldstart", "import times: " + ", ".join(f"{k} {v.get('wall_seconds', 0):.2f} s" for k, v in imports.items())
    )
    return {
        "server_cpus": list(context.server_cpus),
        "repeats": plan.cold_start_repeats,
        "servers": summary,
        "imports": imports,
        "notes": notes,
    }
