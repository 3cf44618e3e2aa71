"""The lame duck: the first SIGTERM drains for a while before the server's own handler runs; a second one
goes straight through."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from service.shutdown import LameDuck


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
        lame_duck = LameDuck(0.3, lambda: drained.append(asyncio.get_running_loop().time()))
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
        lame_duck = LameDuck(60, lambda: None)
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
