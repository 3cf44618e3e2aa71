"""Where the CPU goes under load: the service's own stage timers give CPU µs per request stage by stage, beside the
server's whole request and the no-op ceiling's, under `hey` at the target concurrency."""

from __future__ import annotations

import re
import time
from typing import Any

from benchmarks.context import CEILING, CEILING_SPEC, BenchContext
from benchmarks.processes import RunningServer, request
from benchmarks.targets import TARGET_CONCURRENCY

STAGE_WORKLOADS = ("multipart", "raw")
PUBLISH_WAIT_S = 0.3  # the service publishes its stage counters every 0.1 s
_STAGE_LINE = re.compile(r'^cifar10_stage_seconds_total\{stage="(?P<stage>\w+)"\} (?P<seconds>\S+)$', re.M)


def stage_seconds(server: RunningServer) -> dict[str, float]:
    """The service's ``cifar10_stage_seconds_total`` counters, by stage (none for the ceiling: it has no timers)."""
    if server.spec.name == CEILING:
        return {}
    status, body = request(server.port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    return {match["stage"]: float(match["seconds"]) for match in _STAGE_LINE.finditer(body.decode())}


def stage_costs(context: BenchContext, server: RunningServer) -> dict[str, Any]:
    """CPU µs per request of the whole server process and (for this service) of each stage of its request path,
    under `hey` at the target concurrency, per workload."""
    measured: dict[str, Any] = {}
    for name in STAGE_WORKLOADS:
        workload = context.workloads[name]
        context.drive(server, workload, TARGET_CONCURRENCY, context.plan.http_warmup_seconds)
        time.sleep(PUBLISH_WAIT_S)
        before = stage_seconds(server)
        load, cpu = context.drive(server, workload, TARGET_CONCURRENCY, context.plan.http_seconds)
        time.sleep(PUBLISH_WAIT_S)
        after = stage_seconds(server)
        measured[name] = {
            "requests": load.ok,
            "requests_per_s": load.ok_per_s,
            "server_cpu_us": cpu["server_cpu_us_per_ok"],
            "stages_us": {stage: (after[stage] - before.get(stage, 0.0)) / max(load.ok, 1) * 1e6 for stage in after},
        }
    return measured


def run(context: BenchContext) -> dict[str, Any]:
    """The stage costs of this service and the ceiling's whole request."""
    notes: dict[str, str] = {}
    specs = (context.service(), CEILING_SPEC)
    stages = context.each_server(specs, lambda server: stage_costs(context, server), notes)
    return {"stages": stages, "concurrency": TARGET_CONCURRENCY, "notes": notes}
