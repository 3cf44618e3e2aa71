"""Reading bodies: the parse stage counts the work on each chunk, not the wait for it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from service.stages import StageClock
from service.uploads import BodyBudget, BodyLimit, read_body


class BusyWhileWaiting:
    """A request whose body arrives after the thread spent ``busy_s`` on other work (other requests' decodes,
    an inline batch): what the event loop does while this request awaits its body."""

    def __init__(self, chunks: list[bytes], busy_s: float) -> None:
        self.scope: dict[str, Any] = {"headers": [(b"content-length", str(sum(map(len, chunks))).encode())]}
        self._messages = [
            {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1} for n, chunk in enumerate(chunks)
        ]
        self.busy_s = busy_s

    async def receive(self) -> dict[str, Any]:
        until = time.thread_time() + self.busy_s
        while time.thread_time() < until:
            pass
        return self._messages.pop(0)


def test_the_wait_for_a_chunk_is_not_parse_time() -> None:
    stages = StageClock(one_in=1)
    request = BusyWhileWaiting([b"a" * 1000, b"b" * 1000], busy_s=0.02)
    with BodyBudget(1 << 20).reservation() as reservation:
        body = asyncio.run(read_body(request, BodyLimit(1 << 20, "LIMIT"), reservation, stages))  # type: ignore[arg-type]
    assert body == b"a" * 1000 + b"b" * 1000
    assert 0 < stages.seconds["parse"] < 0.005  # 40 ms of other work happened during the two waits
