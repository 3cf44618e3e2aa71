"""SIGTERM under load: keep a server busy from many clients, send SIGTERM, and classify every request's fate."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from reliability.client import HttpAnswer, HttpRequest, crowd

AFTER_EXIT_S = 0.2  # clients keep trying the closed port this long after the exit
EXAMPLES = 3


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
    def unanswered(self) -> int:
        """Requests sent that got no answer or half of one (a reset); a refused connection sent nothing."""
        return self.outcomes.get("partial", 0) + self.outcomes.get("no_response", 0)

    @property
    def clean(self) -> bool:
        """Nothing half-answered or malformed, and a zero exit status."""
        return self.outcomes.get("partial", 0) == 0 and self.malformed_answers == 0 and self.exit_code == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the verdict."""
        return {**asdict(self), "clean": self.clean, "unanswered": self.unanswered}


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
    keep_alive: bool = False,
) -> ShutdownResult:
    """Load the server from ``clients`` threads (on keep-alive connections, or one per request), send SIGTERM
    after ``load_before_s``, keep sending until it exits."""
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
    outcomes = Counter(each.answer.kind for each in sent)
    malformed = [
        each.answer for each in sent if each.answer.outcome == "complete" and not acceptable_answer(each.answer)
    ]
    partial = [each.answer for each in sent if each.answer.outcome == "partial"]
    examples = [f"{answer.status}: {answer.body[:200]!r}" for answer in malformed[:EXAMPLES]]
    examples += [f"partial: {answer.status} {answer.body[:200]!r}" for answer in partial[: EXAMPLES - len(examples)]]
    in_flight = sum(each.answer.status == 200 and each.started < signalled < each.finished for each in sent)
    return ShutdownResult(len(sent), dict(outcomes), in_flight, len(malformed), exit_code, exit_seconds, examples)
