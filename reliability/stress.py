"""A server under pressure: a flood against a small queue, SIGTERM while clients keep sending, a bounded soak; each
verdict (``shed_and_recovered``, ``clean``, ``zero_errors``) sits beside the figures it is judged from."""

from __future__ import annotations

import contextlib
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
EXIT_TIMEOUT_S: Final = 40.0
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
    """``request`` from ``clients`` threads for ``seconds``, then ``recovery`` ones: was the load shed, then served?"""
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
    first_ok_s = None if first_ok is None else sum(answer.seconds for answer in recovered[: first_ok + 1])
    return {
        "requests": len(answers),
        "outcomes": outcomes,
        "shed_share": round(len(shed) / max(1, len(answers)), 4),
        "shed_answers_well_formed": well_formed,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "recovery_requests": recovery_requests,
        "recovery_ok": recovery_ok,
        "recovery_first_ok_ms": None if first_ok_s is None else round(first_ok_s * 1000, 2),
        "shed_and_recovered": (
            "503" in outcomes and well_formed and set(outcomes) <= {"200", "503"} and recovery_ok == recovery_requests
        ),
    }


def sigterm_under_load(
    server: RunningServer, request: HttpRequest, *, clients: int, load_before_s: float = 1.0, keep_alive: bool = False
) -> dict[str, Any]:
    """SIGTERM to ``server`` after ``load_before_s`` of load, which goes on until it exits; every request's fate."""
    exit_code: int | None = None
    exit_seconds: float | None = None
    with crowd(server.port, request, clients, timeout=EXIT_TIMEOUT_S, keep_alive=keep_alive) as sent:
        time.sleep(load_before_s)  # the planned length of the load before the signal
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            exit_code = server.process.wait(EXIT_TIMEOUT_S)
            exit_seconds = round(time.monotonic() - signalled, 3)
        time.sleep(AFTER_EXIT_S)
    answers = [each.answer for each in sent]
    outcomes = dict(Counter(answer.kind for answer in answers))
    malformed = [answer for answer in answers if answer.outcome == "complete" and not acceptable_answer(answer)]
    partial = [answer for answer in answers if answer.outcome == "partial"]
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
    """hey's figures for ``workload`` over ``seconds`` after a warm-up, the server's own counts and memory drift."""
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
    # hey keeps per-request statuses for its first million answers only: the server's own counters cover them all.
    counted = server_side_statuses(server.port)
    served = {status: new for status, count in counted.items() if (new := count - counted_before.get(status, 0))}
    rss = [kib for _, kib in samples]
    marks = {"start": rss[0], "middle": rss[len(rss) // 2], "end": rss[-1], "max": max(rss)}
    return {
        **load.as_dict(),
        "rss_mib": {mark: round(kib / 1024, 1) for mark, kib in marks.items()},
        "rss_drift_mib": round((rss[-1] - rss[0]) / 1024, 1),
        "rss_drift_percent": round(100 * (rss[-1] - rss[0]) / rss[0], 1),
        "rss_samples": samples,
        "server_side_statuses": served,
        "zero_errors": load.errors == 0 and load.non_2xx == 0 and load.requests > 0 and set(served) == {"200"},
    }


def server_side_statuses(port: int) -> dict[str, int]:
    """``POST /predict`` answers by status so far, from the server's Prometheus counters."""
    text = send(HOST, port, HttpRequest("GET", "/metrics")).body.decode()
    pattern = r'cifar10_http_requests_total\{method="POST",route="/predict",status="(\d+)"\} ([\d.e+]+)'
    return {status: int(float(count)) for status, count in re.findall(pattern, text)}
