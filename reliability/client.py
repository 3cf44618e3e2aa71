"""An HTTP/1.1 client over one socket per request (h11 frames it) that tells a complete answer from a half-sent
one, and a crowd of such clients sending from threads.

Higher-level clients hide exactly what matters here: whether the server answered at all, answered in full, or
cut an answer short (status line sent, body missing). Every request is sent with ``Connection: close``.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import h11

from benchmarks.processes import HOST

Outcome = Literal["complete", "partial", "no_response", "refused"]

STREAM_CHUNK_BYTES: Final = 64 * 1024
RECEIVE_BYTES: Final = 64 * 1024
RETRY_CLOSED_PORT_S: Final = 0.005


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request to send: method, path, headers and body (``streamed`` sends it chunked, without a length)."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    streamed: bool = False


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What came back: the outcome, and for a complete answer its status, headers (lower-case names) and body."""

    outcome: Outcome
    seconds: float
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def kind(self) -> str:
        """The status of a complete answer (``"200"``), else the outcome: how the answers are tallied."""
        return str(self.status) if self.outcome == "complete" else self.outcome

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One request a crowd client sent: when it went out, when its answer was in, and the answer."""

    started: float
    finished: float
    answer: HttpAnswer


def send(host: str, port: int, request: HttpRequest, *, timeout: float = 30.0) -> HttpAnswer:
    """Send ``request`` on a new connection and read the answer to its end (or to where the server cut it)."""
    started = time.perf_counter()
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return HttpAnswer("refused", time.perf_counter() - started)
    protocol = h11.Connection(h11.CLIENT)
    with connection:
        # The server may answer (413) and close before the whole body went out: then read what it sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            _write_request(connection, protocol, f"{host}:{port}", request)
        return _read_answer(connection, protocol, started)


def _write_request(connection: socket.socket, protocol: h11.Connection, host: str, request: HttpRequest) -> None:
    headers = [("Host", host), ("Connection", "close"), *request.headers.items()]
    headers.append(("Transfer-Encoding", "chunked") if request.streamed else ("Content-Length", str(len(request.body))))
    connection.sendall(protocol.send(h11.Request(method=request.method, target=request.path, headers=headers)) or b"")
    size = STREAM_CHUNK_BYTES if request.streamed else max(len(request.body), 1)
    for start in range(0, len(request.body), size):
        connection.sendall(protocol.send(h11.Data(data=request.body[start : start + size])) or b"")
        if request.streamed and select.select([connection], [], [], 0)[0]:
            return  # the server answered early (413): stop sending so its answer is not lost to a reset
    connection.sendall(protocol.send(h11.EndOfMessage()) or b"")


def _read_answer(connection: socket.socket, protocol: h11.Connection, started: float) -> HttpAnswer:
    received = complete = False
    response: h11.Response | None = None
    body = bytearray()
    while True:
        try:
            event = protocol.next_event()
        except h11.RemoteProtocolError:  # closed early, or not HTTP: what came is not a whole answer
            break
        if event is h11.NEED_DATA:
            try:
                data = connection.recv(RECEIVE_BYTES)
            except (ConnectionResetError, TimeoutError):
                data = b""
            received = received or bool(data)
            protocol.receive_data(data)  # b"": the server closed the connection
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            complete = isinstance(event, h11.EndOfMessage)
            break
    seconds = time.perf_counter() - started
    if not received:
        return HttpAnswer("no_response", seconds)
    outcome: Outcome = "complete" if complete else "partial"
    if response is None:
        return HttpAnswer(outcome, seconds)
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in response.headers}
    return HttpAnswer(outcome, seconds, response.status_code, headers, bytes(body))


@contextlib.contextmanager
def crowd(port: int, request: HttpRequest, clients: int, *, timeout: float = 30.0) -> Iterator[list[SentRequest]]:
    """``clients`` threads send ``request`` to the loopback ``port``, one connection per request, until the block
    ends; the list yielded fills with every request sent, and is complete once the block has exited."""
    stop = threading.Event()
    sent: list[SentRequest] = []
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            answer = send(HOST, port, request, timeout=timeout)
            with lock:
                sent.append(SentRequest(started, time.monotonic(), answer))
            if answer.outcome in ("refused", "no_response"):
                stop.wait(RETRY_CLOSED_PORT_S)  # the port is closing: do not spin on it

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield sent
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout)
