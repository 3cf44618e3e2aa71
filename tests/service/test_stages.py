"""The stage clock: batches timed every time, per-request stages on a random sample scaled to the whole."""

from __future__ import annotations

import itertools
import random
import sys
import threading

import pytest

from service import stages
from service.stages import UNTIMED, StageClock


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread clock that advances one second per read."""
    ticks = itertools.count()
    monkeypatch.setattr(stages, "cpu_clock", lambda: float(next(ticks)))


@pytest.mark.usefixtures("ticking_clock")
def test_a_sampled_call_counts_one_in_times_and_the_others_read_no_clock() -> None:
    draws = iter([0.1, 0.9, 0.2])  # below 1/4: sampled
    clock = StageClock(one_in=4, chance=lambda: next(draws))
    first = clock.start()
    skipped = clock.start()
    assert skipped == UNTIMED
    clock.stop("decode", skipped)
    assert clock.seconds["decode"] == 0.0
    clock.stop("decode", first)  # one second of the ticking clock, counted four times
    assert clock.seconds["decode"] == 4.0
    assert clock.start() != UNTIMED  # 0.2 < 1/4: sampled
    clock.add("inference", 0.5)  # whole batches are not sampled
    assert clock.seconds["inference"] == 0.5


@pytest.mark.usefixtures("ticking_clock")
def test_one_in_one_times_every_call() -> None:
    clock = StageClock(one_in=1, chance=lambda: 0.999999)
    for _ in range(5):
        clock.stop("parse", clock.start())
    assert clock.seconds["parse"] == 5.0


@pytest.mark.usefixtures("ticking_clock")
def test_the_sampled_sum_estimates_the_whole() -> None:
    clock = StageClock(one_in=16, chance=random.Random(7).random)
    for _ in range(20_000):
        clock.stop("answer", clock.start())  # every call costs one second of the ticking clock
    assert clock.seconds["answer"] == pytest.approx(20_000, rel=0.1)


def test_threads_stopping_at_once_lose_no_addition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages, "cpu_clock", lambda: 1.0)  # a Python call: a point where threads may switch
    clock = StageClock(one_in=2)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch as often as the interpreter can
    try:
        threads = [
            threading.Thread(target=lambda: [clock.stop("decode", 0.0) for _ in range(20_000)]) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert clock.seconds["decode"] == 4 * 20_000 * 2.0
