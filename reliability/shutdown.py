"""SIGTERM under load: keep a server busy from many clients, send SIGTERM, and classify every request's fate."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reliability.client import HttpAnswer, HttpRequest, send


@dataclass(frozen=True, slots=True)
class ShutdownResult:
    """Every request's fate around a SIGTERM, and how the process ended."""

    requests: int
    outcomes: dict[str, int]
    in_flight_at_signal: int  # requests sent before the signal and answered (200) after it
    malformed_answers: int  # complete answers acceptable_answer() refuses
    exit_code: int | None
    exit_seconds: float | None
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing half-answered or malformed, and a zero exit status."""
        return self.outcomes.get("partial", 0) == 0 and self.malformed_answers == 0 and self.exit_code == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the verdict."""
        return {
            "requests": self.requests,
            "outcomes": self.outcomes,
            "in_flight_at_signal": self.in_flight_at_signal,
            "malformed_answers": self.malformed_answers,
            "exit_code": self.exit_code,
            "exit_seconds": self.exit_seconds,
            "clean": self.clean,
            "examples": self.examples,
        }


def acceptable_answer(answer: HttpAnswer) -> bool:
    """A complete 200 with a JSON body, or a 503 JSON error (the server is shutting down)."""
    if answer.status not in (200, 503):
        return False
    try:
        document = answer.json()
    except ValueError:
        return False
    return isinstance(document, dict) and (answer.status == 200 or "error" in document)


def sigterm_under_load(
    process: subprocess.Popen[Any],
    port: int,
    request: HttpRequest,
    *,
    clients: int = 32,
    load_before_s: float = 1.0,
    exit_timeout_s: float = 40.0,
) -> ShutdownResult:
    """Load the server from ``clients`` threads, send SIGTERM after ``load_before_s``, keep sending until it exits."""
    stop = threading.Event()
    records: list[tuple[float, float, HttpAnswer]] = []
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            answer = send("127.0.0.1", port, request, timeout=exit_timeout_s)
            with lock:
                records.append((started, time.monotonic(), answer))
            if answer.outcome in ("refused", "no_response"):
                time.sleep(0.005)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(load_before_s)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        exit_code: int | None = process.wait(exit_timeout_s)
        exit_seconds: float | None = round(time.monotonic() - signalled, 3)
    except subprocess.TimeoutExpired:
        exit_code, exit_seconds = None, None
    time.sleep(0.2)  # a few more attempts against the closed port
    stop.set()
    for thread in threads:
        thread.join(exit_timeout_s)
    outcomes: Counter[str] = Counter()
    malformed, in_flight = 0, 0
    examples: list[str] = []
    for started, finished, answer in records:
        key = str(answer.status) if answer.outcome == "complete" else answer.outcome
        outcomes[key] += 1
        if answer.outcome == "complete" and not acceptable_answer(answer):
            malformed += 1
            if len(examples) < 3:
                examples.append(f"{answer.status}: {answer.body[:200]!r}")
        if answer.outcome == "partial" and len(examples) < 3:
            examples.append(f"partial: {answer.status} {answer.body[:200]!r}")
        if answer.status == 200 and started < signalled < finished:
            in_flight += 1
    return ShutdownResult(len(records), dict(outcomes), in_flight, malformed, exit_code, exit_seconds, examples)
