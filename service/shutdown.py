"""Lame-duck shutdown: on SIGTERM keep serving for a drain window, then let the server stop as usual.

A load balancer needs a few seconds to stop routing to a pod after SIGTERM (Kubernetes removes the endpoint
while the pod is already terminating). During the window readiness is red and every answer carries
``Connection: close``, so keep-alive clients finish their request and reconnect elsewhere instead of having
an idle connection closed under a request they are sending. Then the server's own handler runs: it stops
accepting, lets in-flight requests finish and drains the batcher. A second SIGTERM stops at once; SIGINT
(Ctrl-C) is left to the server.

The handler wraps the one uvicorn installed (in every worker process, whichever supervisor started it), so it
is installed from the app's lifespan, which runs after uvicorn's signal set-up.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any] | int | None


class LameDuck:
    """Turn the first SIGTERM into ``drain_s`` seconds of draining before the server's own handler runs."""

    def __init__(self, drain_s: float, begin_draining: Callable[[], None]) -> None:
        self.drain_s = drain_s
        self._begin_draining = begin_draining
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: SignalHandler = None
        self._installed = False
        self._draining = False

    def install(self) -> bool:
        """Wrap the current SIGTERM handler (only from the main thread, with a drain window); say if it did."""
        if self.drain_s <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        self._loop = asyncio.get_running_loop()
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True
        return True

    def uninstall(self) -> None:
        """Put the wrapped handler back (unless someone replaced ours meanwhile)."""
        if self._installed and signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, self._previous)
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None or self._loop.is_closed():
            self._forward(signum, frame)  # a second SIGTERM: stop now
            return
        self._draining = True
        self._loop.call_soon_threadsafe(self._drain, signum, frame)

    def _drain(self, signum: int, frame: FrameType | None) -> None:
        self._begin_draining()
        logger.info("SIGTERM: draining for %g s before shutting down (CIFAR10_DRAIN_S)", self.drain_s)
        assert self._loop is not None
        self._loop.call_later(self.drain_s, self._forward, signum, frame)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        else:
            signal.raise_signal(signum)  # the default action, or whatever was there before
