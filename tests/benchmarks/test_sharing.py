"""Tests for benchmarks.sharing: the timed work, the interleaving, the CPU check and the OpenBLAS probe's output."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from benchmarks.sharing import has_avx512, main, measure, pinned_thread, python_work


def test_the_python_work_takes_measurable_time() -> None:
    assert 1e-6 < python_work() < 0.1


def test_measure_gives_each_condition_one_median_per_round_and_sees_what_came_before() -> None:
    calls: list[str] = []

    def slow() -> None:
        calls.append("slow")
        time.sleep(0.001)

    medians = measure({"quick": lambda: calls.append("quick"), "slow": slow}, rounds=3, repeats=4)
    assert {name: len(values) for name, values in medians.items()} == {"quick": 3, "slow": 3}
    assert calls.count("quick") == calls.count("slow") == 12
    # the second round starts with the other condition: turns alternate, so drift hits both
    assert calls[:4] == ["quick"] * 4 and calls[4:12] == ["slow"] * 8 and calls[12:16] == ["quick"] * 4
    assert all(value > 0 for values in medians.values() for value in values)


def test_the_thread_is_pinned_for_the_block_only() -> None:
    before = os.sched_getaffinity(0)
    cpu = min(before)
    with pinned_thread(cpu):
        assert os.sched_getaffinity(0) == {cpu}
    assert os.sched_getaffinity(0) == before


def test_avx512_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    with_it, without = tmp_path / "a", tmp_path / "b"
    with_it.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n")
    assert has_avx512(str(with_it)) and not has_avx512(str(without))
    assert not has_avx512(str(tmp_path / "missing"))


def test_the_probe_prints_both_medians_and_their_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rounds", "1", "--repeats", "3"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["back_to_back_us"] > 0 and figures["after_products_us"] > 0
    assert figures["vs_back_to_back"] == pytest.approx(figures["after_products_us"] / figures["back_to_back_us"])
