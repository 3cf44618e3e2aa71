"""The HTTP targets, measured fairly on a noisy machine: the servers run side by side and take turns.

The main HTTP matrix measures one server at a time, so a neighbour's burst on this shared machine can
land on one server's only run and move a ratio by 10-20 %. Here the three servers the targets compare
(this service, the TensorFlow-path service, the no-op ceiling) are all started, then loaded in
interleaved rounds, in a rotating order: multipart at the target concurrency (all three), then this service
and the ceiling alone for the other targets' loads (multipart at c=1, raw bodies at c=32). Each server's
figure is the median of its rounds and each ratio the median of the per-round ratios.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from benchmarks.context import CEILING, DEFAULT_SERVICE, TF_SERVICE, BenchContext
from benchmarks.load import hey_available
from benchmarks.processes import RunningServer, cpu_seconds_of
from benchmarks.stats import median_of, ratio
from benchmarks.targets import TARGET_CONCURRENCY

IDLE_WINDOW_S = 0.2
IDLE_CPU_SHARE = 0.05  # the /proc clock ticks every 10 ms: at most one tick in a window
IDLE_TIMEOUT_S = 60.0
# The other loads the targets name, each run by this service and the ceiling only: (workload, concurrency).
MORE_LOADS = (("multipart", 1), ("raw", TARGET_CONCURRENCY))


def run(context: BenchContext) -> dict[str, Any]:
    """Interleaved rounds of `hey` against every compared server (and this service and the ceiling alone for
    the other loads); the result is the target concurrency's summary, the other loads' under ``more``."""
    if not hey_available():
        return {"note": "skipped: `hey` not installed (make system-deps)"}
    plan = context.plan
    specs, _ = context.compared_specs()
    loads = [("multipart", TARGET_CONCURRENCY), *MORE_LOADS]
    rounds: dict[tuple[str, int], list[dict[str, float]]] = {load: [] for load in loads}
    with ExitStack() as stack:
        servers = [stack.enter_context(context.start(spec)) for spec in specs]
        pair = [server for server in servers if server.spec.name in (DEFAULT_SERVICE, CEILING)]
        for server in servers:
            context.hey(server, context.workloads["multipart"], TARGET_CONCURRENCY, plan.http_warmup_seconds)
        for number in range(plan.headtohead_rounds):
            for workload, concurrency in loads:
                taking_turns = servers if (workload, concurrency) == loads[0] else pair
                rates = _round(context, taking_turns, workload, concurrency, number)
                rounds[(workload, concurrency)].append(rates)
                context.progress(
                    "headtohead",
                    f"round {number + 1}/{plan.headtohead_rounds}, {workload} c={concurrency}: "
                    + ", ".join(f"{name} {rate:,.0f} req/s" for name, rate in rates.items()),
                )
    summaries = [summarise(rounds[load], load[0], plan.headtohead_seconds, load[1]) for load in loads]
    return {**summaries[0], "more": summaries[1:]}


def _round(
    context: BenchContext, servers: list[RunningServer], workload: str, concurrency: int, number: int
) -> dict[str, float]:
    """One turn each, starting from a different server each round; the next turn starts once the server whose
    turn ended is idle (the TensorFlow-path service keeps working through its backlog for seconds)."""
    shift = number % len(servers)
    rates: dict[str, float] = {}
    for server in servers[shift:] + servers[:shift]:
        result = context.hey(server, context.workloads[workload], concurrency, context.plan.headtohead_seconds)
        if result.errors or result.non_2xx:
            raise RuntimeError(f"{server.spec.name}: {result.errors} errors, {result.non_2xx} non-2xx")
        rates[server.spec.name] = result.ok_per_s
        wait_until_idle(server.pid)
    return rates


def wait_until_idle(pid: int, *, timeout_s: float = IDLE_TIMEOUT_S) -> bool:
    """Wait until the process uses under IDLE_CPU_SHARE of a core over IDLE_WINDOW_S; say whether it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = cpu_seconds_of(pid)
        time.sleep(IDLE_WINDOW_S)
        if cpu_seconds_of(pid) - before < IDLE_CPU_SHARE * IDLE_WINDOW_S:
            return True
    return False


def summarise(
    rounds: list[dict[str, float]], workload: str, seconds: float, concurrency: int = TARGET_CONCURRENCY
) -> dict[str, Any]:
    """Median requests/s per server and median per-round ratios of this service to the others."""
    names = list(rounds[0]) if rounds else []
    medians = {name: median_of([r[name] for r in rounds]) for name in names}
    ratios: dict[str, float] = {}
    for other, key in ((TF_SERVICE, "vs_tf_service"), (CEILING, "vs_ceiling")):
        per_round = [ratio(r.get(DEFAULT_SERVICE), r.get(other)) for r in rounds]
        if per_round and all(value is not None for value in per_round):
            ratios[key] = median_of([value for value in per_round if value is not None])
    return {
        "concurrency": concurrency,
        "workload": workload,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "median_ok_per_s": medians,
        "median_ratios": ratios,
    }
