"""End-to-end HTTP load: every server variant and workload at each concurrency, with memory before and after."""

from __future__ import annotations

from typing import Any

from benchmarks.context import CEILING, DEFAULT_SERVICE, BenchContext
from benchmarks.inputs import Workload
from benchmarks.load import hey_available
from benchmarks.processes import RunningServer, ServerSpec, request

SEQUENTIAL_PROBES = 5


def workloads_for(spec: ServerSpec, workloads: dict[str, Workload]) -> list[Workload]:
    """Multipart for every server; raw body and V2 infer only for the default service configuration."""
    if spec.name == DEFAULT_SERVICE:
        return [workloads["multipart"], workloads["raw"], workloads["v2"]]
    if spec.name == CEILING:
        return [workloads["multipart"], workloads["raw"]]
    return [workloads["multipart"]]


def probe(server: RunningServer, workload: Workload, count: int) -> dict[str, Any]:
    """A few sequential requests (used when no load generator is installed): statuses only."""
    statuses = [
        request(server.port, "POST", workload.path, body=workload.body(), headers=workload.headers())[0]
        for _ in range(count)
    ]
    return {"statuses": statuses}


def service_defaults() -> dict[str, Any]:
    """The service's default batching settings (what the `batching` variants run with)."""
    from service.settings import Settings

    defaults = Settings()
    return {"max_batch_size": defaults.max_batch_size, "max_batch_wait_ms": defaults.max_batch_wait_ms}


def run(context: BenchContext) -> dict[str, Any]:
    """Load-test each server with each workload at each concurrency; servers and `hey` on separate CPUs."""
    plan, workloads = context.plan, context.workloads
    compared, notes = context.compared_specs()  # the default service first, then TF path and ceiling
    specs = [*context.service_variants(), *compared[1:]]
    have_hey = hey_available()
    if not have_hey:
        notes["load_generator"] = "skipped load runs: `hey` not installed (make system-deps); sequential probes only"
    rows: list[dict[str, Any]] = []
    memory: dict[str, dict[str, Any]] = {}
    probes: dict[str, Any] = {}

    def measure(server: RunningServer) -> None:
        name = server.spec.name
        context.progress("http", f"{name} ({server.spec.description}) ready")
        if have_hey:
            context.hey(server, workloads["multipart"], max(plan.concurrencies), plan.http_warmup_seconds)
        else:
            probes[name] = probe(server, workloads["multipart"], SEQUENTIAL_PROBES)
        memory[name] = {"after_warmup": server.memory(), "ready_seconds": server.ready_seconds}
        for workload in workloads_for(server.spec, workloads) if have_hey else []:
            for concurrency in plan.concurrencies:
                cpu_before = server.cpu_seconds()
                result = context.hey(server, workload, concurrency, plan.http_seconds)
                cpu_used = server.cpu_seconds() - cpu_before
                rows.append(
                    {
                        "server": name,
                        "workload": workload.name,
                        **result.as_dict(),
                        "server_cpu_cores": cpu_used / result.seconds if result.seconds else None,
                        "server_cpu_us_per_ok": cpu_used / result.ok * 1e6 if result.ok else None,
                    }
                )
                context.progress(
                    "http",
                    f"{name} {workload.name} c={concurrency}: {result.ok_per_s:.0f} req/s, "
                    f"p50 {result.p50_ms or 0:.1f} ms, p99 {result.p99_ms or 0:.1f} ms, "
                    f"non-2xx {result.non_2xx}, errors {result.errors}",
                )
        memory[name]["after_load"] = server.memory()

    context.each_server(specs, measure, notes)
    return {
        "service_settings": service_defaults(),
        "server_cpus": list(context.server_cpus),
        "load_generator_cpus": list(context.load_cpus),
        "server_threads": context.threads,
        "load_generator": "hey" if have_hey else None,
        "seconds_per_run": plan.http_seconds,
        "warmup_seconds": plan.http_warmup_seconds,
        "concurrencies": list(plan.concurrencies),
        "servers": {spec.name: spec.description for spec in specs},
        "workloads": {name: workload.description for name, workload in workloads.items()},
        "rows": rows,
        "memory": memory,
        "probes": probes,
        "notes": notes,
    }
