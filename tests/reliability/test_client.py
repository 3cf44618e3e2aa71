"""Tests for reliability.client: a complete answer, a half-sent one, silence and a refused port are told apart."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest

from benchmarks.processes import HOST, free_port
from reliability.client import HttpRequest, Session, crowd, parse_answer, send, serialise

GET = HttpRequest("GET", "/ready")


@contextmanager
def canned_server(answer: bytes) -> Iterator[int]:
    """A loopback server that reads one request head, writes ``answer`` and closes, for every connection."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.05)  # so the thread notices the stop without a last connection to wake it
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            with connection:
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(5)


@pytest.mark.parametrize(
    ("answer", "outcome", "status"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", "complete", 200),
        (
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            "complete",
            503,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "partial", 200),  # the body was cut short
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", "partial", 200),  # no last chunk
        (b"HTTP/1.1 200 OK\r\nContent-Len", "partial", None),  # the head was cut short
        (b"not http at all\r\n\r\n", "partial", None),
        (b"", "no_response", None),
    ],
    ids=["length", "chunked", "short-body", "no-last-chunk", "short-head", "not-http", "silent"],
)
def test_answers_are_classified(answer: bytes, outcome: str, status: int | None) -> None:
    with canned_server(answer) as port:
        result = send(HOST, port, GET)
    assert (result.outcome, result.status) == (outcome, status)
    if outcome == "complete":
        assert result.json() == {} and result.kind == str(status)
    else:
        assert result.kind == outcome


def test_a_closed_port_is_refused() -> None:
    assert send(HOST, free_port(), GET).outcome == "refused"


def test_headers_are_lower_case() -> None:
    with canned_server(b"HTTP/1.1 200 OK\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n") as port:
        assert send(HOST, port, GET).headers["retry-after"] == "1"


def test_a_crowd_keeps_every_request_it_sent() -> None:
    with canned_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as port, crowd(port, GET, clients=3) as sent:
        deadline = time.monotonic() + 10
        while len(sent) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(sent) >= 10
    assert all(each.answer.status == 200 and each.started <= each.finished for each in sent)


@pytest.mark.parametrize(
    ("connection", "second"),
    [(b"keep-alive", "no_response"), (b"close", "200")],
    ids=["kept-open", "reopened"],
)
def test_a_session_keeps_its_connection_until_the_server_says_close(connection: bytes, second: str) -> None:
    # The canned server closes every connection after one answer: a session that kept it open loses the next
    # request (the keep-alive race), one told "Connection: close" opens a new connection for it.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: " + connection + b"\r\n\r\n"
    with canned_server(answer) as port, closing(Session(HOST, port)) as session:
        assert [session.send(GET).kind, session.send(GET).kind] == ["200", second]


def test_raw_bytes_parse_as_the_answer_they_hold() -> None:
    answer = parse_answer(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 2\r\n\r\n{}", 10.0)
    assert (answer.kind, answer.seconds, answer.json()) == ("408", 10.0, {})
    assert parse_answer(b"", 1.0).kind == "no_response"


def test_a_request_is_sent_once_framed() -> None:
    wire = serialise(HttpRequest("POST", "/predict", {"Content-Type": "image/jpeg"}, b"abc"))
    with canned_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as port:
        assert send(HOST, port, wire).status == 200
    assert wire.startswith(b"POST /predict HTTP/1.1\r\n") and b"connection: close" in wire.lower()
    assert wire.endswith(b"\r\n\r\nabc")
