"""End-to-end HTTP: every server variant and workload at each concurrency with memory before and after (the
matrix), the targets' servers side by side in interleaved rounds, one worker against two, and a large photo."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from statistics import median
from typing import Any

from benchmarks.context import CEILING, DEFAULT_SERVICE, IMAGE_SERVICE, TF_SERVICE, BenchContext
from benchmarks.inputs import MULTIPART_CONTENT_TYPE, large_photo_jpeg, multipart_body
from benchmarks.load import LoadResult, run_wrk, wrk_seconds
from benchmarks.processes import RunningServer, cpu_seconds_of, request
from benchmarks.stats import ratio, summarize_latencies
from benchmarks.targets import TARGET_CONCURRENCY
from service.pipeline import batch_wait_s, batches_on_loop
from service.settings import Settings

WORKLOADS = {DEFAULT_SERVICE: ("multipart", "raw", "v2"), CEILING: ("multipart", "raw")}
IDLE_WINDOW_S = 0.2
IDLE_CPU_SHARE = 0.05  # the /proc clock ticks every 10 ms: at most one tick in a window
IDLE_TIMEOUT_S = 60.0
Load = tuple[str, int]  # (workload, concurrency)
TARGET_LOAD: Load = ("multipart", TARGET_CONCURRENCY)
MORE_LOADS: tuple[Load, ...] = (("multipart", 1), ("raw", TARGET_CONCURRENCY))  # the other loads the targets name
Rounds = list[dict[str, dict[str, Any]]]  # per round, each server's figures


def run_matrix(context: BenchContext) -> dict[str, Any]:
    """Load-test each server with each workload at each concurrency; servers and `hey` on separate CPUs."""
    plan, workloads = context.plan, context.workloads
    compared, notes = context.compared_specs()  # the default service first, then TF path and ceiling
    variants = [context.service(model, batching) for model in ("fp32", "int8") for batching in (True, False)]
    specs = [*(variants if plan.http_full_matrix else compared[:1]), *compared[1:]]
    rows: list[dict[str, Any]] = []
    memory: dict[str, dict[str, Any]] = {}

    def measure(server: RunningServer) -> None:
        name, multipart = server.spec.name, workloads["multipart"]
        context.progress("http", f"{name} ({server.spec.description}) ready")
        context.drive(server, multipart, max(plan.concurrencies), plan.http_warmup_seconds)
        memory[name] = {"after_warmup": server.memory(), "ready_seconds": server.ready_seconds}
        # Multipart for every server; raw bodies for this service and the ceiling, V2 for this service.
        for workload in (workloads[each] for each in WORKLOADS.get(name, ("multipart",))):
            for concurrency in plan.concurrencies:
                result, cpu = context.drive(server, workload, concurrency, plan.http_seconds)
                rows.append({"server": name, "workload": workload.name, **result.as_dict(), **cpu})
                context.progress(
                    "http",
                    f"{name} {workload.name} c={concurrency}: {result.ok_per_s:.0f} req/s, "
                    f"p50 {result.p50_ms or 0:.1f} ms, p99 {result.p99_ms or 0:.1f} ms, "
                    f"non-2xx {result.non_2xx}, errors {result.errors}",
                )
        memory[name]["after_load"] = server.memory()

    context.each_server(specs, measure, notes)
    defaults = Settings()
    on_loop = batches_on_loop(defaults, cpus=lambda: len(context.server_cpus))  # as the servers above ran
    return {
        "service_settings": {
            "max_batch_size": defaults.max_batch_size,
            "max_batch_wait_ms": batch_wait_s(defaults, on_loop) * 1000,
        },
        "server_cpus": list(context.server_cpus),
        "load_generator_cpus": list(context.load_cpus),
        "server_threads": context.threads,
        "load_generator": "hey",
        "seconds_per_run": plan.http_seconds,
        "warmup_seconds": plan.http_warmup_seconds,
        "concurrencies": list(plan.concurrencies),
        "servers": {spec.name: spec.description for spec in specs},
        "workloads": {name: workload.description for name, workload in workloads.items()},
        "rows": rows,
        "memory": memory,
        "notes": notes,
    }


def wait_until_idle(pid: int, *, timeout_s: float = IDLE_TIMEOUT_S) -> bool:
    """Wait until the process uses under IDLE_CPU_SHARE of a core over IDLE_WINDOW_S; say whether it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = cpu_seconds_of(pid)
        time.sleep(IDLE_WINDOW_S)
        if cpu_seconds_of(pid) - before < IDLE_CPU_SHARE * IDLE_WINDOW_S:
            return True
    return False


def turns(servers: list[RunningServer], number: int) -> Iterator[RunningServer]:
    """Each server's turn in round `number`, starting from a different server each round; the next turn starts once
    the server whose turn ended is idle (the TensorFlow-path service keeps working through its backlog for seconds)."""
    shift = number % len(servers)
    for server in servers[shift:] + servers[:shift]:
        yield server
        wait_until_idle(server.pid)


def succeeded(server: RunningServer, result: LoadResult) -> LoadResult:
    """The turn's result if every request succeeded; a turn with failures would skew the medians."""
    if result.errors or result.non_2xx or not result.ok:
        raise RuntimeError(f"{server.spec.name}: {result.errors} errors, {result.non_2xx} non-2xx")
    return result


def interleave(
    context: BenchContext,
    section: str,
    loads: dict[Load, list[RunningServer]],
    turn: Callable[[RunningServer, Load], dict[str, Any]],
) -> dict[Load, Rounds]:
    """The plan's rounds: in each, every load in turn, its servers taking turns under it; `turn` measures one."""
    rounds: dict[Load, Rounds] = {load: [] for load in loads}
    for number in range(context.plan.headtohead_rounds):
        for (workload, concurrency), servers in loads.items():
            measured = {server.spec.name: turn(server, (workload, concurrency)) for server in turns(servers, number)}
            rounds[(workload, concurrency)].append(measured)
            rates = ", ".join(f"{name} {figures['ok_per_s']:,.0f} req/s" for name, figures in measured.items())
            context.progress(
                section, f"round {number + 1}/{context.plan.headtohead_rounds}, {workload} c={concurrency}: {rates}"
            )
    return rounds


def run_head_to_head(context: BenchContext) -> dict[str, Any]:
    """The servers the HTTP targets compare, side by side, taking turns in interleaved rounds (a neighbour's burst on
    this shared machine hits a round, not a server): all of them at the target load, this service (FP32 and INT8) and
    the ceiling at the other loads; medians of the rounds' rates and of the per-round ratios."""
    plan, workloads = context.plan, context.workloads
    specs, _ = context.compared_specs()
    specs.insert(1, context.service("int8"))
    with ExitStack() as stack:
        servers = [stack.enter_context(context.start(spec)) for spec in specs]
        pair = [server for server in servers if server.spec.name in (DEFAULT_SERVICE, IMAGE_SERVICE, CEILING)]
        for server in servers:
            context.drive(server, workloads["multipart"], TARGET_CONCURRENCY, plan.http_warmup_seconds)

        def turn(server: RunningServer, load: Load) -> dict[str, Any]:
            result, _ = context.drive(server, workloads[load[0]], load[1], plan.headtohead_seconds)
            return {"ok_per_s": succeeded(server, result).ok_per_s}

        rounds = interleave(context, "headtohead", {TARGET_LOAD: servers, **dict.fromkeys(MORE_LOADS, pair)}, turn)
    summaries = [
        summarise(
            [{name: turn["ok_per_s"] for name, turn in r.items()} for r in measured], load, plan.headtohead_seconds
        )
        for load, measured in rounds.items()
    ]
    return {**summaries[0], "more": summaries[1:]}


def summarise(rounds: list[dict[str, float]], load: Load, seconds: float) -> dict[str, Any]:
    """Median requests/s per server and median per-round ratios of this service to the others."""
    ratios: dict[str, float] = {}
    comparisons = (
        (DEFAULT_SERVICE, TF_SERVICE, "vs_tf_service"),
        (DEFAULT_SERVICE, CEILING, "vs_ceiling"),
        (IMAGE_SERVICE, CEILING, "int8_vs_ceiling"),
    )
    for service, other, key in comparisons:
        per_round = [ratio(r.get(service), r.get(other)) for r in rounds]
        if per_round and all(value is not None for value in per_round):
            ratios[key] = median([value for value in per_round if value is not None])
    return {
        "concurrency": load[1],
        "workload": load[0],
        "seconds_per_round": seconds,
        "rounds": rounds,
        "median_ok_per_s": {name: median([r[name] for r in rounds]) for name in (rounds[0] if rounds else [])},
        "median_ratios": ratios,
    }


def run_workers(context: BenchContext) -> dict[str, Any]:
    """This service (FP32, one onnxruntime thread per worker) with one worker on one CPU and two workers on two, in
    interleaved rounds at the target load. The load generator is `wrk`, which leaves the most CPU to the servers: on
    a CPU of its own for one worker; for two, on a third CPU when the machine has one, else on their two. Beside the
    measured ratio, 2 × one worker's server CPU per request over two workers' says what two free cores would give."""
    plan, workload, spec = context.plan, context.workloads["multipart"], context.service()
    every = (*context.server_cpus, *context.load_cpus)
    # Server name -> (workers, its CPUs, the load generator's CPUs).
    pinning = {
        "workers_1": (1, every[:1], context.load_cpus),
        "workers_2": (2, every[:2], context.load_cpus if len(every) > 2 else every[:2]),
    }
    with ExitStack() as stack:
        servers = []
        for name, (workers, cpus, load_cpus) in pinning.items():
            variant = replace(
                spec,
                name=name,
                env={**spec.env, "CIFAR10_WORKERS": str(workers), "CIFAR10_INTRA_OP_THREADS": "1"},
                description=f"this service, FP32, {workers} worker(s), {len(cpus)} CPU(s), one onnxruntime thread each",
            )
            servers.append(stack.enter_context(context.start(variant, cpus)))
            warm_up = plan.http_warmup_seconds
            context.drive(servers[-1], workload, TARGET_CONCURRENCY, warm_up, load_cpus, generator=run_wrk)

        def turn(server: RunningServer, load: Load) -> dict[str, Any]:
            """Requests/s, and the CPU the server and the load generator spent per request."""
            seconds, load_cpus = plan.headtohead_seconds, pinning[server.spec.name][2]
            result, cpu = context.drive(server, workload, TARGET_CONCURRENCY, seconds, load_cpus, generator=run_wrk)
            wrk_cpu_s = (succeeded(server, result).load_generator_cpu_cores or 0.0) * result.seconds
            return {"ok_per_s": result.ok_per_s, **cpu, "load_generator_cpu_us_per_ok": wrk_cpu_s / result.ok * 1e6}

        rounds = interleave(context, "workers", {TARGET_LOAD: servers}, turn)[TARGET_LOAD]
    one, two = pinning
    return {
        "cpus": {name: list(cpus) for name, (_, cpus, _) in pinning.items()},
        "load_cpus": {name: list(load_cpus) for name, (_, _, load_cpus) in pinning.items()},
        "load_generator": "wrk",
        "concurrency": TARGET_CONCURRENCY,
        "workload": workload.name,
        "seconds_per_round": wrk_seconds(plan.headtohead_seconds),
        "rounds": rounds,
        "medians": {
            name: {key: median([r[name][key] for r in rounds]) for key in rounds[0][name]} for name in (one, two)
        },
        "median_speedup": median([r[two]["ok_per_s"] / r[one]["ok_per_s"] for r in rounds]),
        "median_speedup_on_free_cores": median(
            [2 * r[one]["server_cpu_us_per_ok"] / r[two]["server_cpu_us_per_ok"] for r in rounds]
        ),
    }


def run_large_photo(context: BenchContext) -> dict[str, Any]:
    """`/predict` latency for a multi-megapixel JPEG made at benchmark time, posted one at a time to this service,
    the TensorFlow-path service and the ceiling."""
    requests = context.plan.large_photo_requests
    photo, (width, height) = large_photo_jpeg(context.plan.large_photo_megapixels)
    body, headers = multipart_body(photo, filename="photo.jpg"), {"Content-Type": MULTIPART_CONTENT_TYPE}
    context.progress("largephoto", f"{width}×{height} ({width * height / 1e6:.1f} MP, {len(photo) / 1e6:.1f} MB JPEG)")
    specs, notes = context.compared_specs()

    def measure(server: RunningServer) -> dict[str, Any]:
        request(server.port, "POST", "/predict", body=body, headers=headers)  # warm-up
        latencies: list[float] = []
        statuses: set[int] = set()
        answer = b""
        for _ in range(requests):
            started = time.perf_counter()
            status, answer = request(server.port, "POST", "/predict", body=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses.add(status)
        summary = {**summarize_latencies(latencies), "statuses": sorted(statuses)}
        context.progress(
            "largephoto", f"{server.spec.name}: p50 {summary['p50_ms']:.1f} ms, statuses {sorted(statuses)}"
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
