"""Send the hostile-input catalogue to a running server, one request at a time, and measure how much the server's
peak resident memory (VmHWM) grew meanwhile."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from benchmarks.processes import HOST, status_kib
from reliability.catalogue import HostileCase
from reliability.client import HttpAnswer, HttpRequest, send

WARM_UP_REQUESTS: Final = 5


@dataclass(frozen=True, slots=True)
class CatalogueRun:
    """The answers to the warm-up and to every case, and the server's peak-RSS growth during the cases."""

    warm_up: list[HttpAnswer]
    answers: list[tuple[HostileCase, HttpAnswer]]
    peak_rss_growth_kib: int


def with_request_id(request: HttpRequest, request_id: str) -> HttpRequest:
    """``request`` with an ``X-Request-ID`` header (to find it in the server's access log)."""
    return dataclasses.replace(request, headers={**request.headers, "X-Request-ID": request_id})


def send_catalogue(port: int, pid: int, cases: Iterable[HostileCase], warm_up: HttpRequest) -> CatalogueRun:
    """Send ``warm_up`` a few times to settle allocator arenas (request ids ``warm-<i>``), then every case
    (``hostile-<name>``), reading VmHWM of process ``pid`` before and after the cases."""
    warmed = [send(HOST, port, with_request_id(warm_up, f"warm-{index}")) for index in range(WARM_UP_REQUESTS)]
    peak_before = status_kib(pid, "VmHWM")
    answers = [(case, send(HOST, port, with_request_id(case.request, f"hostile-{case.name}"))) for case in cases]
    return CatalogueRun(warmed, answers, status_kib(pid, "VmHWM") - peak_before)
