"""The lame duck: the first SIGTERM drains for a while before the server's own handler runs; a second one
goes straight through."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator
from types import FrameType

import pytest

from service.shutdown import LameDuck, listening_sockets, refuse_new_connections


@pytest.fixture
def recorded_sigterm() -> Iterator[list[float]]:
    """A stand-in for the server's SIGTERM handler that records when it ran."""
    calls: list[float] = []

    def server_handler(signum: int, frame: FrameType | None) -> None:
        calls.append(asyncio.get_running_loop().time())

    saved = signal.signal(signal.SIGTERM, server_handler)
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, saved)


def test_first_sigterm_drains_then_hands_over(recorded_sigterm: list[float]) -> None:
    async def scenario() -> tuple[float, float]:
        drained: list[float] = []
        lame_duck = LameDuck(0.3, lambda: drained.append(asyncio.get_running_loop().time()), listeners=list)
        assert lame_duck.install()
        os.kill(os.getpid(), signal.SIGTERM)
        while not recorded_sigterm:
            await asyncio.sleep(0.01)
        return drained[0], recorded_sigterm[0]

    began, handed_over = asyncio.run(asyncio.wait_for(scenario(), 5))
    assert handed_over - began >= 0.29  # the server's handler ran only after the drain window
    assert signal.getsignal(signal.SIGTERM).__name__ == "server_handler"  # ours is gone again


def test_a_second_sigterm_goes_straight_through(recorded_sigterm: list[float]) -> None:
    async def scenario() -> None:
        lame_duck = LameDuck(60, lambda: None, listeners=list)
        lame_duck.install()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert not recorded_sigterm  # draining
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert len(recorded_sigterm) == 1

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_no_window_or_no_main_thread_installs_nothing(recorded_sigterm: list[float]) -> None:
    async def scenario() -> None:
        assert not LameDuck(0, lambda: None).install()
        assert not await asyncio.to_thread(LameDuck(5, lambda: None).install)

    asyncio.run(scenario())
    assert signal.getsignal(signal.SIGTERM).__name__ == "server_handler"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0), backlog=8) as server:
        yield server


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux socket filter")
def test_a_closed_door_keeps_queued_connections_and_completes_no_new_one(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as queued:
        refuse_new_connections([listener])
        queued.sendall(b"sent before the door closed")
        with socket.socket() as late, pytest.raises(TimeoutError):
            late.settimeout(0.3)
            late.connect(("127.0.0.1", port))  # its SYN is dropped: no handshake, nothing sent into a void
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.recv(100) == b"sent before the door closed"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd")
def test_the_listening_sockets_of_this_process_are_found_as_duplicates(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as client:
        found = listening_sockets()
        try:
            ports = [each.getsockname()[1] for each in found]
            assert port in ports
            assert client.getsockname()[1] not in ports  # a connected socket is not a listener
            assert all(each.fileno() != listener.fileno() for each in found)
        finally:
            for each in found:
                each.close()
    assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)  # closing a duplicate left it open


def test_the_window_ends_with_the_door_closed_before_the_handover(
    recorded_sigterm: list[float], listener: socket.socket
) -> None:
    refused: list[float] = []

    def duplicate() -> list[socket.socket]:
        refused.append(asyncio.get_running_loop().time())
        return [listener.dup()]

    async def scenario() -> None:
        lame_duck = LameDuck(0.05, lambda: None, listeners=duplicate)
        lame_duck.install()
        os.kill(os.getpid(), signal.SIGTERM)
        while not recorded_sigterm:
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert refused and refused[0] <= recorded_sigterm[0]
    assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)  # the server closes its own socket
