"""Lame-duck shutdown: on SIGTERM keep serving for a drain window, then let the server stop as usual.

A load balancer needs a few seconds to stop routing to a pod after SIGTERM (Kubernetes removes the endpoint
while the pod is already terminating). During the window readiness is red and every answer carries
``Connection: close``, so keep-alive clients finish their request and reconnect elsewhere instead of having
an idle connection closed under a request they are sending. Then the server's own handler runs: it stops
accepting, lets in-flight requests finish and drains the batcher. A second SIGTERM stops at once; SIGINT
(Ctrl-C) is left to the server.

When the window ends, the listening sockets first stop completing new handshakes (a socket filter that drops
every packet: a client's SYN goes unanswered, then its connection is refused once the socket closes), and the
connections the kernel already completed are accepted and answered. Closing a listening socket resets every
connection still waiting in its accept queue, and those clients have sent their request by then.

The handler wraps the one uvicorn installed (in every worker process, whichever supervisor started it), so it
is installed from the app's lifespan, which runs after uvicorn's signal set-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import stat
import struct
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

logger = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any] | int | None

ACCEPT_QUEUE_S: Final = 0.5  # at most this long to accept what waits in the accept queue when the door closes
_SO_ATTACH_FILTER: Final = 26  # <asm-generic/socket.h>
_DROP_EVERY_PACKET: Final = struct.pack("HBBI", 0x06, 0, 0, 0)  # classic BPF, one instruction: "ret #0"


def listening_sockets() -> list[socket.socket]:
    """Duplicates of this process's listening TCP sockets (Linux; elsewhere none); the caller closes them."""
    if not sys.platform.startswith("linux"):
        return []
    found = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError, ValueError):  # a descriptor closed meanwhile, or not a socket
            if not stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                continue
            candidate = socket.socket(fileno=os.dup(int(name)))
            tcp = candidate.type == socket.SOCK_STREAM and candidate.family in (socket.AF_INET, socket.AF_INET6)
            if tcp and candidate.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                found.append(candidate)
            else:
                candidate.close()
    return found


def refuse_new_connections(listeners: list[socket.socket]) -> None:
    """Make ``listeners`` drop every packet: no new handshake completes, connections already queued are kept
    (each accepted socket is its own, without the filter). Linux only: elsewhere OSError."""
    program = ctypes.create_string_buffer(_DROP_EVERY_PACKET)
    filter_spec = struct.pack("HL", 1, ctypes.addressof(program))
    for listener in listeners:
        listener.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, filter_spec)


class LameDuck:
    """Turn the first SIGTERM into ``drain_s`` seconds of draining before the server's own handler runs."""

    def __init__(
        self,
        drain_s: float,
        begin_draining: Callable[[], None],
        listeners: Callable[[], list[socket.socket]] = listening_sockets,
    ) -> None:
        self.drain_s = drain_s
        self._begin_draining = begin_draining
        self._listeners = listeners
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: SignalHandler = None
        self._installed = False
        self._draining = False
        self._closing: asyncio.Task[None] | None = None  # held: the loop keeps only a weak reference to a task

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
        self._loop.call_later(self.drain_s, self._close_door, signum, frame)

    def _close_door(self, signum: int, frame: FrameType | None) -> None:
        listeners = self._listeners()
        try:
            refuse_new_connections(listeners)
        except OSError as exc:
            logger.warning("could not stop new connections before closing the listening socket: %s", exc)
        assert self._loop is not None
        self._closing = self._loop.create_task(self._accept_queued_then_forward(listeners, signum, frame))

    async def _accept_queued_then_forward(
        self, listeners: list[socket.socket], signum: int, frame: FrameType | None
    ) -> None:
        """The event loop accepts what the kernel queued (the listener stays readable while anything waits)."""
        assert self._loop is not None
        give_up = self._loop.time() + ACCEPT_QUEUE_S
        try:
            while listeners and self._loop.time() < give_up and select.select(listeners, [], [], 0)[0]:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)  # the last accepted connection is made
        finally:
            for listener in listeners:
                listener.close()
            self._forward(signum, frame)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        else:
            signal.raise_signal(signum)  # the default action, or whatever was there before
