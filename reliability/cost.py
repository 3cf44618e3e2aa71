"""Cost per request: each attack against a default-configured server while a ``/predict`` probe runs, judged
against the targets of the issue "Bounded cost per request"."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks.config import split_cpus
from benchmarks.processes import HOST, RunningServer, service_spec, status_kib
from reliability.attacks import Attack, build_attacks
from reliability.catalogue import jpeg_request
from reliability.client import HttpAnswer, HttpRequest, crowd, send
from reliability.stress import sigterm_under_load
from service.settings import Settings

PROBE_EVERY_S: Final = 0.01  # a blocked event loop is seen within this much of its start
SETTLE_S: Final = 0.5  # the probe goes on this long after an attack, so work left behind is measured too
BASELINE_S: Final = 2.0
IDLE_GAUGES: Final = ("cifar10_http_requests_in_flight", "cifar10_decode_queue_depth", "cifar10_body_memory_bytes")
IDLE_POLL_S: Final = 0.05
IDLE_TIMEOUT_S: Final = 60.0
IDLE_S: Final = 3.0  # idle time before the last resident-memory reading
KIB_PER_MIB: Final = 1024
SHUTDOWN_CLIENTS: Final = 32
# The targets.
MAX_PROBE_MS: Final = 100.0
MAX_PEAK_GROWTH_MIB: Final = 64.0
MAX_IDLE_GROWTH_MIB: Final = 32.0
MAX_SECONDS: Final = 2.0


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset a process's VmHWM to its current RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def wait_until_idle(port: int) -> None:
    """Wait until the server holds no request but this one, no decode and no body: leftovers skew what follows."""
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    while time.monotonic() < deadline:
        text = send(HOST, port, HttpRequest("GET", "/metrics")).body.decode()
        gauges = dict(re.findall(r"^(cifar10_\w+) ([-+.\de]+)$", text, re.MULTILINE))
        if [float(gauges.get(name, "nan")) for name in IDLE_GAUGES] == [1.0, 0.0, 0.0]:
            return
        time.sleep(IDLE_POLL_S)
    raise TimeoutError(f"the server on port {port} is still busy after {IDLE_TIMEOUT_S:g} s")


def measure(server: RunningServer, attack: Attack, probe: HttpRequest, probe_cpu_s: float = 0.0) -> dict[str, Any]:
    """What ``attack`` cost the server and did to ``probe`` meanwhile (less ``probe_cpu_s`` of CPU per probe)."""
    sender = attack.build()
    wait_until_idle(server.port)
    reset_peak_rss(server.pid)
    rss_kib, cpu_s = status_kib(server.pid, "VmRSS"), server.cpu_seconds()
    with crowd(server.port, probe, 1, pause_s=PROBE_EVERY_S) as probed:
        answers = sender(server.port)
        time.sleep(SETTLE_S)
    probes = [each.answer for each in probed]
    growth_kib = status_kib(server.pid, "VmHWM") - rss_kib
    cpu_s = server.cpu_seconds() - cpu_s - len(probes) * probe_cpu_s
    kinds = Counter(answer.kind for answer in answers)
    return {
        **{label: getattr(attack, label) for label in ("name", "cost_class", "admitted", "client_paced")},
        "expected": [attack.expected],  # the kinds accepted, as every results file since the first records them
        "answers": dict(kinds),
        "seconds": round(max((answer.seconds for answer in answers), default=0.0), 3),  # until the slowest answer
        "cpu_s": round(max(cpu_s, 0.0), 3),  # the probe's own share taken out
        "peak_rss_growth_mib": round(growth_kib / KIB_PER_MIB, 1),
        "probes": len(probes),
        "probe_worst_ms": round(max((answer.seconds for answer in probes), default=0.0) * 1000, 1),
        "probe_failures": dict(Counter(answer.kind for answer in probes if answer.status != 200)),
        "ok": set(kinds) <= {attack.expected},
    }


@contextlib.contextmanager
def client_pinned(cpus: Sequence[int]) -> Iterator[None]:
    """Run this process's threads (and those it starts) on ``cpus`` while the block runs, where it has them."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus) & before or before)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def idle(port: int) -> list[HttpAnswer]:
    """No attack at all, for the baseline: the probe alone."""
    time.sleep(BASELINE_S)
    return []


def run_costs(model: str, work: Path, *, quick: bool) -> dict[str, Any]:
    """The whole catalogue (``--quick``: its quick subset) against one server, then SIGTERM under keep-alive load."""
    settings = Settings()  # the defaults: the servers below run with them
    attacks = [attack for attack in build_attacks(settings) if attack.quick or not quick]
    probe = jpeg_request()
    server_cpus, client_cpus = split_cpus()  # the attacks and the probe on a CPU of their own, where there is one
    attacked = service_spec(model, name="attacks")
    with client_pinned(client_cpus), RunningServer(attacked, work, cpus=server_cpus) as server:
        for _ in range(20):  # warm the allocator's arenas and the model's first batch sizes
            send(HOST, server.port, probe)
        baseline = measure(server, Attack("baseline: the probe alone", "CPU", "none", lambda: idle), probe)
        probe_cpu_s = baseline["cpu_s"] / max(1, baseline["probes"])
        idle_start_mib = status_kib(server.pid, "VmRSS") / KIB_PER_MIB
        cases = [measure(server, attack, probe, probe_cpu_s) for attack in attacks]
        time.sleep(IDLE_S)
        idle_end_mib = status_kib(server.pid, "VmRSS") / KIB_PER_MIB
    # service_spec turns the lame duck off unless asked: this server drains as the defaults say.
    draining = service_spec(model, {"CIFAR10_DRAIN_S": str(settings.drain_s)}, name="drain")
    with client_pinned(client_cpus), RunningServer(draining, work, cpus=server_cpus) as server:
        shutdown = sigterm_under_load(server, probe, clients=SHUTDOWN_CLIENTS, keep_alive=True)
    results = {
        "server_cpus": list(server_cpus),
        "client_cpus": list(client_cpus),
        "probe_every_ms": PROBE_EVERY_S * 1000,
        "settle_s": SETTLE_S,
        "probe_cpu_ms": round(probe_cpu_s * 1000, 2),
        "baseline": baseline,
        "cases": cases,
        "idle_rss_start_mib": round(idle_start_mib, 1),
        "idle_rss_end_mib": round(idle_end_mib, 1),
        "shutdown": {**shutdown, "clients": SHUTDOWN_CLIENTS, "drain_s": settings.drain_s},
    }
    return {**results, "targets": targets(results)}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: whether it was met, and the attacks that missed it (with the figure)."""
    cases, shutdown = results["cases"], results["shutdown"]

    def misses(figure: str, limit: float, *, paced: bool = True) -> list[str]:
        missed = [case for case in cases if case[figure] > limit and (paced or not case["client_paced"])]
        return [f"{case['name']} ({case[figure]:g})" for case in missed]

    errors = [f"{case['name']} ({kind})" for case in cases for kind in case["answers"] if kind.startswith("5")]
    refused = [f"{case['name']} (probe {dict(case['probe_failures'])})" for case in cases if case["probe_failures"]]
    peak = misses("peak_rss_growth_mib", MAX_PEAK_GROWTH_MIB)
    growth = results["idle_rss_end_mib"] - results["idle_rss_start_mib"]
    idle_growth = [] if growth <= MAX_IDLE_GROWTH_MIB else [f"+{growth:.1f} MiB"]
    unanswered = [] if shutdown["unanswered"] == 0 and shutdown["clean"] else [f"{shutdown['unanswered']} unanswered"]
    missed = {
        "0 × 5xx for client-caused input": errors,
        f"concurrent /predict ≤ {MAX_PROBE_MS:g} ms, never refused": misses("probe_worst_ms", MAX_PROBE_MS) + refused,
        f"peak RSS growth ≤ {MAX_PEAK_GROWTH_MIB:g} MiB per request": peak,
        f"idle RSS after the catalogue ≤ start + {MAX_IDLE_GROWTH_MIB:g} MiB": idle_growth,
        f"answered within {MAX_SECONDS:g} s": misses("seconds", MAX_SECONDS, paced=False),
        "SIGTERM under keep-alive load: 0 resets or unanswered": unanswered,
    }
    return [{"target": target, "met": not names, "misses": names} for target, names in missed.items()]
