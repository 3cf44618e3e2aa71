"""A server under pressure: a flood against a small queue, SIGTERM while clients keep sending, a bounded soak.

Each returns a JSON-ready dict whose verdict (``shed_and_recovered``, ``clean``, ``zero_errors``) sits beside the
figures it is judged from.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Final

from benchmarks.config import available_cpus
from benchmarks.inputs import Workload
from benchmarks.load import hey_available, run_hey
from benchmarks.processes import HOST, RunningServer, status_kib
from benchmarks.stats import percentile
from reliability.client import HttpAnswer, HttpRequest, crowd, send

AFTER_EXIT_S: Final = 0.2  # clients keep trying the closed port this long after the exit
EXAMPLES: Final = 3
SAMPLE_EVERY_S: Final = 1.0
HEY_MISSING: Final = "hey is not installed (apt-get install hey)"


def json_object(answer: HttpAnswer) -> dict[str, Any] | None:
    """The answer's body as a JSON object, or None when it is not one."""
    try:
        document = answer.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def well_formed_shed(answer: HttpAnswer) -> bool:
    """A 503 with a JSON error naming the overload and a Retry-After header."""
    document = json_object(answer) or {}
    overloaded = document.get("code") == "overloaded" and isinstance(document.get("error"), str)
    return overloaded and "retry-after" in answer.headers


def acceptable_answer(answer: HttpAnswer) -> bool:
    """A complete 200 with a JSON body, or a 503 JSON error (the server is shutting down)."""
    document = json_object(answer)
    return document is not None and (answer.status == 200 or (answer.status == 503 and "error" in document))


def flood(
    port: int, request: HttpRequest, recovery: HttpRequest, *, clients: int, seconds: float, recovery_requests: int = 20
) -> dict[str, Any]:
    """Send ``request`` from ``clients`` threads for ``seconds``, then ``recovery`` one at a time.

    ``shed_and_recovered``: load was shed with well-formed 503s, nothing else failed, and every request after
    the flood succeeded.
    """
    with crowd(port, request, clients) as sent:
        time.sleep(seconds)  # the flood's planned length, not a wait for something to happen
    answers = [each.answer for each in sent]
    outcomes = dict(Counter(answer.kind for answer in answers))
    shed = [answer for answer in answers if answer.status == 503]
    well_formed = all(well_formed_shed(answer) for answer in shed)
    latencies = [answer.seconds * 1000 for answer in answers] or [0.0]
    recovered = [send(HOST, port, recovery) for _ in range(recovery_requests)]
    recovery_ok = sum(answer.status == 200 for answer in recovered)
    first_ok = next((index for index, answer in enumerate(recovered) if answer.status == 200), None)
    return {
        "requests": len(answers),
        "outcomes": outcomes,
        "shed_share": round(len(shed) / max(1, len(answers)), 4),
        "shed_answers_well_formed": well_formed,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "recovery_requests": recovery_requests,
        "recovery_ok": recovery_ok,
        "recovery_first_ok_ms": (
            None if first_ok is None else round(sum(answer.seconds for answer in recovered[: first_ok + 1]) * 1000, 2)
        ),
        "shed_and_recovered": (
            "503" in outcomes and well_formed and set(outcomes) <= {"200", "503"} and recovery_ok == recovery_requests
        ),
    }


def sigterm_under_load(
    process: subprocess.Popen[Any],
    port: int,
    request: HttpRequest,
    *,
    clients: int = 32,
    load_before_s: float = 1.0,
    exit_timeout_s: float = 40.0,
    keep_alive: bool = False,
) -> dict[str, Any]:
    """Load the server from ``clients`` threads (on keep-alive connections, or one per request), send SIGTERM
    after ``load_before_s``, keep sending until it exits, and classify every request's fate.

    ``clean``: nothing half-answered or malformed, and a zero exit status. ``unanswered``: requests sent that got
    no answer or half of one (a reset); a refused connection sent nothing.
    """
    exit_code: int | None = None
    exit_seconds: float | None = None
    with crowd(port, request, clients, timeout=exit_timeout_s, keep_alive=keep_alive) as sent:
        time.sleep(load_before_s)  # the planned length of the load before the signal
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            exit_code = process.wait(exit_timeout_s)
            exit_seconds = round(time.monotonic() - signalled, 3)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(AFTER_EXIT_S)
    outcomes = dict(Counter(each.answer.kind for each in sent))
    malformed = [
        each.answer for each in sent if each.answer.outcome == "complete" and not acceptable_answer(each.answer)
    ]
    partial = [each.answer for each in sent if each.answer.outcome == "partial"]
    # Sent before the signal and answered (200) after it.
    in_flight = sum(each.answer.status == 200 and each.started < signalled < each.finished for each in sent)
    examples = [f"{answer.status}: {answer.body[:200]!r}" for answer in malformed[:EXAMPLES]]
    examples += [f"partial: {answer.status} {answer.body[:200]!r}" for answer in partial[: EXAMPLES - len(examples)]]
    return {
        "requests": len(sent),
        "outcomes": outcomes,
        "in_flight_at_signal": in_flight,
        "malformed_answers": len(malformed),
        "exit_code": exit_code,
        "exit_seconds": exit_seconds,
        "examples": examples,
        "clean": not partial and not malformed and exit_code == 0,
        "unanswered": len(partial) + outcomes.get("no_response", 0),
    }


def soak(
    server: RunningServer, workload: Workload, *, seconds: float, concurrency: int, warm_up_s: float
) -> dict[str, Any]:
    """Warm up, then load the server with ``workload`` for ``seconds`` sampling VmRSS; report hey's figures
    (a :class:`benchmarks.load.LoadResult`), the server's own status counts and the memory drift."""
    if not hey_available():
        return {"skipped": HEY_MISSING}
    cpus = available_cpus()  # hey on every CPU, as many OS threads as there are
    run_hey(server.port, workload, concurrency=concurrency, seconds=warm_up_s, cpus=cpus)
    counted_before = server_side_statuses(server.port)
    samples: list[tuple[float, int]] = []  # (seconds since the start, VmRSS in kB): every second, and at the end
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(run_hey, server.port, workload, concurrency=concurrency, seconds=seconds, cpus=cpus)
        while not loading.done():
            samples.append((round(time.monotonic() - started, 2), status_kib(server.pid, "VmRSS")))
            wait([loading], timeout=SAMPLE_EVERY_S)
    load = loading.result()
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
