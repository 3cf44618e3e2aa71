"""A raw HTTP/1.1 client over one socket per request, which tells a complete answer from a half-sent one.

Higher-level clients hide exactly what matters here: whether the server answered at all, answered in full, or
cut an answer short (status line sent, body missing). Every request is sent with ``Connection: close``.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Outcome = Literal["complete", "partial", "no_response", "refused"]

STREAM_CHUNK_BYTES: Final = 64 * 1024
_HEADER_END: Final = b"\r\n\r\n"


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
    """What came back: the outcome, and for a complete answer its status, headers and body."""

    outcome: Outcome
    seconds: float
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def send(host: str, port: int, request: HttpRequest, *, timeout: float = 30.0) -> HttpAnswer:
    """Send ``request`` on a new connection and read until the server closes it."""
    started = time.perf_counter()
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return HttpAnswer("refused", time.perf_counter() - started)
    with connection:
        # The server may answer (413) and close before the whole body went out: then read what it sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            _write_request(connection, host, port, request)
        received = _read_all(connection)
    return _parse(received, time.perf_counter() - started)


def _write_request(connection: socket.socket, host: str, port: int, request: HttpRequest) -> None:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if request.streamed:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {len(request.body)}")
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if not request.streamed:
        connection.sendall(request.body)
        return
    for start in range(0, len(request.body), STREAM_CHUNK_BYTES):
        chunk = request.body[start : start + STREAM_CHUNK_BYTES]
        connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        readable, _, _ = select.select([connection], [], [], 0)
        if readable:
            return  # the server answered early (413): stop sending so its answer is not lost to a reset
    connection.sendall(b"0\r\n\r\n")


def _read_all(connection: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = connection.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(received: bytes, seconds: float) -> HttpAnswer:
    if not received:
        return HttpAnswer("no_response", seconds)
    head, separator, body = received.partition(_HEADER_END)
    if not separator:
        return HttpAnswer("partial", seconds)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return HttpAnswer("partial", seconds)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(parts[1])
    declared = headers.get("content-length")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        decoded = _dechunk(body)
        if decoded is None:
            return HttpAnswer("partial", seconds, status, headers, body)
        body = decoded
    elif declared is not None and len(body) != int(declared):
        return HttpAnswer("partial", seconds, status, headers, body)
    return HttpAnswer("complete", seconds, status, headers, body)


def _dechunk(data: bytes) -> bytes | None:
    """Decode a chunked body; None when the terminating zero-length chunk never arrived."""
    out = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(data[position:line_end].split(b";")[0] or b"0", 16)
        position = line_end + 2
        if size == 0:
            return bytes(out)
        if position + size > len(data):
            return None
        out += data[position : position + size]
        position += size + 2
