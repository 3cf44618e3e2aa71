"""An HTTP/1.1 client (h11 frames it) that tells a complete answer from a half-sent one or none, where higher-level
clients hide exactly that, and a crowd of such clients sending from threads."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import h11

from benchmarks.processes import HOST

Outcome = Literal["complete", "partial", "no_response", "refused"]

CHUNK_BYTES: Final = 64 * 1024  # sent, streamed and received at a time
RETRY_CLOSED_PORT_S: Final = 0.005


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request to send; ``streamed`` sends its body chunked, without a length."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    streamed: bool = False


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What came back: the outcome and, once an answer began, its status, headers (lower-case names) and body."""

    outcome: Outcome
    seconds: float
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def kind(self) -> str:
        """How answers are tallied: the status of a complete answer (``"200"``), else the outcome."""
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


def send(host: str, port: int, request: HttpRequest | bytes, *, timeout: float = 30.0) -> HttpAnswer:
    """Send ``request`` on a connection of its own and read the answer to its end (or to where it was cut)."""
    with contextlib.closing(Session(host, port, timeout=timeout, keep_alive=False)) as session:
        return session.send(request)


class Session:
    """One client's connection: kept alive across requests (reopened when closed), or one per request."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0, keep_alive: bool = True) -> None:
        self.host, self.port, self.timeout, self.keep_alive = host, port, timeout, keep_alive
        self._connection: socket.socket | None = None

    def send(self, request: HttpRequest | bytes) -> HttpAnswer:
        """Send ``request`` and read its answer; one serialised beforehand keeps the client's own framing (of a
        64 MiB head, say) out of the measured time."""
        started = time.perf_counter()
        if self._connection is None:
            try:
                self._connection = socket.create_connection((self.host, self.port), timeout=self.timeout)
            except (ConnectionRefusedError, ConnectionResetError):  # the port is closed, or closing under SIGTERM
                return HttpAnswer("refused", time.perf_counter() - started)
        wire = request if isinstance(request, bytes) else serialise(request, self.host, keep_alive=self.keep_alive)
        connection = self._connection
        # The server may answer (413, 431) and close before the whole request went out: then read what it sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for start in range(0, len(wire), CHUNK_BYTES):
                if start and select.select([connection], [], [], 0)[0]:
                    break  # it answered early: stop sending so its answer is not lost to a reset
                connection.sendall(wire[start : start + CHUNK_BYTES])
        answer, reusable = _read_answer(lambda: receive(connection), started)
        if not (self.keep_alive and reusable):
            self.close()  # asked to (Connection: close), or the answer was not whole
        return answer

    def close(self) -> None:
        """Close the connection, if one is open."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def serialise(request: HttpRequest, host: str = HOST, *, keep_alive: bool = False) -> bytes:
    """``request`` as it goes on the wire, framed by h11."""
    protocol = h11.Connection(h11.CLIENT)
    headers = [("Host", host), *([] if keep_alive else [("Connection", "close")]), *request.headers.items()]
    headers.append(("Transfer-Encoding", "chunked") if request.streamed else ("Content-Length", str(len(request.body))))
    size = CHUNK_BYTES if request.streamed else max(len(request.body), 1)
    events = [
        h11.Request(method=request.method, target=request.path, headers=headers),
        *(h11.Data(data=request.body[start : start + size]) for start in range(0, len(request.body), size)),
        h11.EndOfMessage(),
    ]
    return b"".join(protocol.send(event) or b"" for event in events)


def parse_answer(data: bytes, seconds: float) -> HttpAnswer:
    """The answer in ``data``: all a raw socket got (until closed) ``seconds`` after sending its request."""
    chunks = iter((data, b""))
    answer, _ = _read_answer(lambda: next(chunks, b""), 0.0)
    return dataclasses.replace(answer, seconds=seconds)


def receive(connection: socket.socket) -> bytes:
    """What arrived on ``connection``; nothing once it was closed, reset or timed out."""
    try:
        return connection.recv(CHUNK_BYTES)
    except OSError:
        return b""


def _read_answer(receive: Callable[[], bytes], started: float) -> tuple[HttpAnswer, bool]:
    """The answer ``receive`` brings to the request on the wire, and whether the connection may carry another."""
    protocol = h11.Connection(h11.CLIENT)
    protocol.send(h11.Request(method="GET", target="/", headers=[("Host", HOST)]))  # stands for the one on the wire
    protocol.send(h11.EndOfMessage())
    received = complete = False
    response: h11.Response | None = None
    body = bytearray()
    with contextlib.suppress(h11.RemoteProtocolError):  # closed early, or not HTTP: not a whole answer
        while not complete:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                data = receive()
                received = received or bool(data)
                protocol.receive_data(data)  # b"": the server closed the connection
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            complete = isinstance(event, h11.EndOfMessage)
    seconds = time.perf_counter() - started
    reusable = protocol.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}
    if response is None:
        return HttpAnswer("partial" if received else "no_response", seconds), reusable
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in response.headers}
    answer = HttpAnswer("complete" if complete else "partial", seconds, response.status_code, headers, bytes(body))
    return answer, reusable


@contextlib.contextmanager
def crowd(
    port: int, request: HttpRequest, clients: int, *, timeout: float = 30, keep_alive: bool = False, pause_s: float = 0
) -> Iterator[list[SentRequest]]:
    """``clients`` threads send ``request``, ``pause_s`` apart, until the block ends; the list holds every one sent."""
    stop = threading.Event()
    sent: list[SentRequest] = []  # list.append is atomic: the clients need no lock

    def client() -> None:
        with contextlib.closing(Session(HOST, port, timeout=timeout, keep_alive=keep_alive)) as session:
            while not stop.is_set():
                started = time.monotonic()
                answer = session.send(request)
                sent.append(SentRequest(started, time.monotonic(), answer))
                closing = answer.outcome in ("refused", "no_response")  # the port is closing: do not spin on it
                stop.wait(max(pause_s, RETRY_CLOSED_PORT_S) if closing else pause_s)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield sent
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout)
