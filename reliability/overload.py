"""Overload: flood a server whose queue is small, count the 503s it sheds, then check it recovers."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.processes import HOST
from benchmarks.stats import percentile
from reliability.client import HttpAnswer, HttpRequest, crowd, send


@dataclass(frozen=True, slots=True)
class OverloadResult:
    """What a flood got back, and how the server answered right after it."""

    requests: int
    outcomes: dict[str, int]
    shed_share: float  # share of answers that were 503
    shed_answers_well_formed: bool  # every 503 was JSON {"error", "code": "overloaded"} with Retry-After
    p50_ms: float
    p99_ms: float
    recovery_requests: int
    recovery_ok: int
    recovery_first_ok_ms: float | None

    @property
    def shed_and_recovered(self) -> bool:
        """Load was shed with well-formed 503s, nothing else failed, and every request after the flood succeeded."""
        unexpected = set(self.outcomes) - {"200", "503"}
        return (
            self.outcomes.get("503", 0) > 0
            and self.shed_answers_well_formed
            and not unexpected
            and self.recovery_ok == self.recovery_requests
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the verdict."""
        return {**asdict(self), "shed_and_recovered": self.shed_and_recovered}


def well_formed_shed(answer: HttpAnswer) -> bool:
    """A 503 with a JSON error naming the overload and a Retry-After header."""
    try:
        document = answer.json()
    except ValueError:
        return False
    return (
        isinstance(document, dict)
        and document.get("code") == "overloaded"
        and isinstance(document.get("error"), str)
        and "retry-after" in answer.headers
    )


def flood(
    port: int, request: HttpRequest, recovery: HttpRequest, *, clients: int, seconds: float, recovery_requests: int = 20
) -> OverloadResult:
    """Send ``request`` from ``clients`` threads for ``seconds``, then ``recovery`` one at a time."""
    with crowd(port, request, clients) as sent:
        time.sleep(seconds)  # the flood's planned length, not a wait for something to happen
    answers = [each.answer for each in sent]
    shed = [answer for answer in answers if answer.status == 503]
    latencies = [answer.seconds * 1000 for answer in answers] or [0.0]
    recovered = [send(HOST, port, recovery) for _ in range(recovery_requests)]
    first_ok = next((index for index, answer in enumerate(recovered) if answer.status == 200), None)
    first_ok_ms = None
    if first_ok is not None:
        first_ok_ms = round(sum(answer.seconds for answer in recovered[: first_ok + 1]) * 1000, 2)
    return OverloadResult(
        requests=len(answers),
        outcomes=dict(Counter(answer.kind for answer in answers)),
        shed_share=round(len(shed) / max(1, len(answers)), 4),
        shed_answers_well_formed=all(well_formed_shed(answer) for answer in shed),
        p50_ms=round(percentile(latencies, 50), 2),
        p99_ms=round(percentile(latencies, 99), 2),
        recovery_requests=recovery_requests,
        recovery_ok=sum(answer.status == 200 for answer in recovered),
        recovery_first_ok_ms=first_ok_ms,
    )
