"""The HTTP server: uvicorn with the service's HTTP limits, through uvicorn's own extension points.

uvicorn takes an HTTP protocol class in its ``Config``; :class:`GuardedHttpToolsProtocol` is its httptools
protocol with the limits a server facing untrusted clients needs before the app ever sees a request: a cap on
the request line and headers (431), on the number of headers (431), a deadline to receive them (408: a client
that trickles headers or sends nothing), and a longest pause while a body arrives (the connection closes; the
app sees the client disconnect). The connection cap is uvicorn's ``limit_concurrency`` (503).
"""

from __future__ import annotations

import json
import math
import socket
from asyncio import TimerHandle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from service.settings import Settings
from service.state import CONNECTIONS_KEY, ConnectionCount

PROTOCOL: Final = "service.server:GuardedHttpToolsProtocol"  # an import string: worker processes load it too
WORKER_APP_FACTORY: Final = "service.app:create_app_from_environ"
SHUTDOWN_GRACE_S: Final = 1.0  # at shutdown, how long a just-opened connection may take to send its request
STARTUP_FAILURE: Final = 3  # uvicorn's own exit status when the server could not start


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one connection may cost before and while its request arrives."""

    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        """The limits the settings choose."""
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
        )


class ServiceConfig(uvicorn.Config):
    """uvicorn's configuration plus the HTTP limits (pickled to worker processes with the rest of it)."""

    def __init__(self, app: Any, *, http_limits: HttpLimits, **options: Any) -> None:
        super().__init__(app, http=PROTOCOL, **options)
        self.http_limits = http_limits


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing oversized or slow request heads and stalled bodies."""

    def __init__(self, config: uvicorn.Config, *arguments: Any, **options: Any) -> None:
        super().__init__(config, *arguments, **options)
        self.limits: HttpLimits = getattr(config, "http_limits", HttpLimits())
        self._awaiting_head = True  # before the request line and headers are complete
        self._head_bytes = 0  # raw bytes fed while the head was incomplete
        self._head_size = 0  # request line and headers as parsed
        self._header_count = 0
        self._refusal: tuple[int, str, str] | None = None
        self._timer: TimerHandle | None = None
        self._timer_at = 0.0  # when the timer fires
        self._deadline = 0.0  # when the armed callback is due: the timer may fire earlier, and then waits on
        self._on_deadline: Callable[[], None] | None = None
        self._connections: ConnectionCount | None = self.app_state.get(CONNECTIONS_KEY)
        self._last_request = False  # the server is shutting down: answer the request arriving, then close

    # --- connection ----------------------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        """A new connection must send a complete request head within the header timeout."""
        super().connection_made(transport)
        if self._connections is not None:
            self._connections.open += 1
        self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the timer with the connection (a pending one would keep the closed connection alive)."""
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._connections is not None:
            self._connections.open -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse as soon as the head is over its limits (the cost stays bounded by them)."""
        if self._refusal is not None:
            return
        super().data_received(data)
        if self._awaiting_head and self._refusal is None:
            # Everything fed so far belongs to the head: it is not complete yet.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_oversized_head()
        if self._refusal is not None and not self.transport.is_closing():
            self._send_refusal()

    # --- parser callbacks ----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """The next request on this connection begins: its head has the header timeout to arrive."""
        super().on_message_begin()
        self._awaiting_head = True
        self._head_bytes = 0
        self._head_size = 0
        self._header_count = 0
        self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        """Count the request target towards the head's size."""
        self._head_size += len(url)
        if self._head_size > self.limits.max_header_bytes:
            self._refuse_oversized_head()
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count headers; past the limit, keep no more of them."""
        self._header_count += 1
        self._head_size += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            self._refuse_head(
                431, "too_many_headers", f"more than {self.limits.max_headers} headers (CIFAR10_MAX_HEADERS)"
            )
            return
        if self._head_size > self.limits.max_header_bytes:
            self._refuse_oversized_head()
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Start the request, unless its head was refused; the body may then pause at most the body timeout."""
        self._awaiting_head = False
        if self._refusal is not None:
            return
        self._arm(self.limits.body_timeout_s, self._body_stalled)
        super().on_headers_complete()
        if self._last_request and self.cycle is not None:
            self.cycle.keep_alive = False  # its answer says Connection: close

    def on_body(self, body: bytes) -> None:
        """Body bytes arrived: the body timeout starts again."""
        if self._refusal is not None:
            return  # a refused request has no app to hand its body to
        self._arm(self.limits.body_timeout_s, self._body_stalled)
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The whole request arrived: no more receive timeouts for it."""
        self._disarm()
        if self._refusal is None:
            super().on_message_complete()

    def shutdown(self) -> None:
        """The server stops: a connection whose request is arriving (or that was just opened to send one) gets
        its answer first, then closes; uvicorn would close it at once, and the client would see its request
        go unanswered. One that never sends a byte closes after a short grace. (A connection awaits a head only
        when it is new or a head has begun: after an answer it waits for the next request's first byte.)"""
        if not self._awaiting_head or self.transport.is_closing():
            super().shutdown()
            return
        self._last_request = True
        self._arm(SHUTDOWN_GRACE_S, self._close_if_silent)

    def _close_if_silent(self) -> None:
        if self._awaiting_head and self._head_bytes == 0 and not self.transport.is_closing():
            self.transport.close()

    # --- timeouts and refusals -----------------------------------------------------------------------------

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` in ``seconds``, unless re-armed or disarmed first.

        Each request moves this deadline three times. Rather than cancel a timer and schedule another each time
        (a few % of a small request's CPU), one timer stays; when it fires before the deadline of the moment it
        schedules itself again for that deadline. Only an earlier deadline replaces it.
        """
        self._deadline = self.loop.time() + seconds
        self._on_deadline = callback
        if self._timer is None or self._timer_at > self._deadline:
            self._schedule()

    def _disarm(self) -> None:
        self._on_deadline = None  # the timer may still fire: it finds nothing to call

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = self._deadline
        self._timer = self.loop.call_at(self._deadline, self._deadline_reached)

    def _deadline_reached(self) -> None:
        self._timer = None
        callback = self._on_deadline
        if callback is None:
            return
        if self.loop.time() < self._deadline:  # moved later since this timer was set
            self._schedule()
            return
        self._on_deadline = None
        callback()

    def _head_timed_out(self) -> None:
        if self.transport.is_closing() or not self._awaiting_head:
            return
        if self._head_bytes == 0:
            self.transport.close()  # a connection that never sent a byte of a request: nothing to answer
            return
        self._refuse_head(
            408,
            "request_timeout",
            f"the request line and headers did not arrive within {self.limits.header_timeout_s:g} s "
            "(CIFAR10_HEADER_TIMEOUT_S)",
        )
        self._send_refusal()

    def _body_stalled(self) -> None:
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The app has not read what arrived yet: the client is not the one stalling.
            self._arm(self.limits.body_timeout_s, self._body_stalled)
            return
        self.logger.info("closing a connection whose request body stalled for %g s", self.limits.body_timeout_s)
        self.transport.close()  # the app sees a client disconnect

    def _refuse_oversized_head(self) -> None:
        self._refuse_head(
            431,
            "request_headers_too_large",
            f"the request line and headers are over {self.limits.max_header_bytes} bytes (CIFAR10_MAX_HEADER_BYTES)",
        )

    def _refuse_head(self, status: int, code: str, message: str) -> None:
        if self._refusal is None:
            self._refusal = (status, code, message)

    def _send_refusal(self) -> None:
        assert self._refusal is not None
        status, code, message = self._refusal
        self._disarm()
        self.logger.info("refused a request head: %s", message)
        body = json.dumps({"error": message, "code": code}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def server_config(settings: Settings, app: Any, **options: Any) -> ServiceConfig:
    """uvicorn's configuration for the settings: the HTTP limits, timeouts and connection cap."""
    return ServiceConfig(
        app,
        http_limits=HttpLimits.from_settings(settings),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=math.ceil(settings.keep_alive_timeout_s),
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        log_config=None,
        access_log=False,  # the request middleware writes the structured access log
        server_header=False,
        **options,
    )


def listen(settings: Settings) -> socket.socket:
    """The listening socket, bound before anything slow starts; OSError says why it cannot be."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)  # worker processes accept on it
    return sock


def serve(settings: Settings, app: Any | None, sock: socket.socket) -> None:
    """Run the server on ``sock`` until it is stopped: ``app`` in this process, or (``None``) ``settings.workers``
    worker processes that each build the app from the environment (the same steps as ``uvicorn.run``)."""
    if app is not None:
        server = uvicorn.Server(server_config(settings, app))
        server.run(sockets=[sock])
        if not server.started:
            raise SystemExit(STARTUP_FAILURE)  # uvicorn logged why
        return
    Multiprocess(server_config(settings, WORKER_APP_FACTORY, factory=True), sockets=[sock]).run()
