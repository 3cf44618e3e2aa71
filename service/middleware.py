"""ASGI middleware around every request: request id, access log, HTTP metrics, security and timing headers,
client disconnects, and ``Connection: close`` while the server drains."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Final

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http_errors import send_internal_error
from service.logs import current_request_id
from service.state import ServiceState

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("service.access")

REQUEST_ID_HEADER: Final = b"x-request-id"
# nginx's status for "the client closed the connection before the answer": counted, never a 5xx.
CLIENT_CLOSED_REQUEST: Final = 499
# Incoming request ids are echoed into headers and logs: accept only short, printable, header-safe ids.
_VALID_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_UNMATCHED_ROUTE: Final = "<unmatched>"
_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
_CLOSE: Final = (b"connection", b"close")


class RequestIds:
    """Fresh request ids: a random 64-bit prefix per process and a counter, 32 hex digits like a UUID's.

    Unique across processes and restarts without a system call per request (uuid4 reads the kernel's entropy).
    """

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        """The next id."""
        return f"{self._prefix}{next(self._counter):016x}"


def sanitise_request_id(raw: str | None, fresh: Callable[[], str] = lambda: RequestIds().next()) -> str:
    """Return ``raw`` when it is a safe request id, otherwise a fresh one."""
    if raw is not None and _VALID_REQUEST_ID.fullmatch(raw):
        return raw
    return fresh()


class RequestContextMiddleware:
    """Tag each request with an id, time it, count it and log one JSON access line (never the body)."""

    def __init__(self, app: ASGIApp, *, state: ServiceState) -> None:
        self.app = app
        self.state = state
        self.metrics = state.metrics
        self.access_log = state.settings.access_log
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        stages = self.metrics.stages
        accounting = stages.start()
        raw_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                raw_id = value.decode("latin-1")
                break
        request_id = sanitise_request_id(raw_id, self._ids.next)
        context = current_request_id.set(request_id)
        extra_headers = [(REQUEST_ID_HEADER, request_id.encode("latin-1")), _NOSNIFF]
        status = 500
        started_response = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers = [
                    *message.get("headers", []),
                    *extra_headers,
                    (b"server-timing", b"app;dur=%.3f" % elapsed_ms),
                ]
                if self.state.draining:
                    headers.append(_CLOSE)  # lame duck: the client reconnects elsewhere after this answer
                message["headers"] = headers
            await send(message)

        self.state.in_flight += 1
        stages.stop("accounting", accounting)  # the bookkeeping before the app is called...
        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            # The client went away mid-request: nothing to answer, and not the server's fault.
            logger.info("client disconnected before the answer", extra={"path": scope["path"]})
            status = CLIENT_CLOSED_REQUEST
        except Exception:
            # Expected failures were already rendered by the app's handlers; this is a bug or an outage.
            logger.exception("unhandled error", extra={"path": scope["path"]})
            status = 500
            if not started_response:
                await send_internal_error(send_with_headers)
        finally:
            accounting = stages.start()
            self.state.in_flight -= 1
            duration = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", _UNMATCHED_ROUTE) if route is not None else _UNMATCHED_ROUTE
            self.metrics.observe_request(scope["method"], template, status, duration)
            if self.access_log:
                client = scope.get("client")
                access_logger.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(duration * 1000, 3),
                        "client": f"{client[0]}:{client[1]}" if client else None,
                    },
                )
            current_request_id.reset(context)
            stages.stop("accounting", accounting)  # ...and after it answered
