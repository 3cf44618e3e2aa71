"""Tests for benchmarks.http_bench: medians of interleaved head-to-head rounds, and the targets and report
that use them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from benchmarks.http_bench import summarise, wait_until_idle
from benchmarks.report import render
from benchmarks.targets import evaluate_targets
from tests.benchmarks.test_targets import results_with

ROUNDS = [
    {"service_fp32_batching": 3000.0, "tf_service": 20.0, "ceiling": 10000.0},
    {"service_fp32_batching": 1000.0, "tf_service": 20.0, "ceiling": 2000.0},  # a neighbour's burst, both hit
    {"service_fp32_batching": 3300.0, "tf_service": 30.0, "ceiling": 11000.0},
]


def test_summary_takes_medians_of_rates_and_of_per_round_ratios() -> None:
    summary = summarise(ROUNDS, ("multipart", 32), 5.0)
    assert summary["median_ok_per_s"] == {"service_fp32_batching": 3000.0, "tf_service": 20.0, "ceiling": 10000.0}
    # per-round ratios 150, 50, 110 → 110; 0.3, 0.5, 0.3 → 0.3 (not 3000 / 10000 by luck: the rounds decide)
    assert summary["median_ratios"]["vs_tf_service"] == pytest.approx(110.0)
    assert summary["median_ratios"]["vs_ceiling"] == pytest.approx(0.3)


def test_summary_without_the_tensorflow_service_has_no_ratio_for_it() -> None:
    rounds = [{"service_fp32_batching": 3000.0, "ceiling": 10000.0}]
    assert set(summarise(rounds, ("multipart", 32), 5.0)["median_ratios"]) == {"vs_ceiling"}


def test_targets_prefer_the_head_to_head_medians_over_single_runs() -> None:
    # the single matrix runs say 1900 req/s: 190× TF and 95 % of the ceiling (both PASS) ...
    results = results_with(onnx_ms=0.05, predict_ms=50.0, function_ms=1.0, service_rps=1900.0, image_mb=150)
    results["headtohead"] = summarise(ROUNDS, ("multipart", 32), 5.0)
    targets = {target.key: target for target in evaluate_targets(results)}
    # ... but the interleaved rounds say 110× and 30 %
    assert targets["http_vs_tf_service"].measured == pytest.approx(110.0)
    assert targets["http_vs_ceiling"].verdict == "MISS"
    assert "medians of 3 interleaved rounds" in targets["http_vs_ceiling"].detail
    text = render(results)
    assert "## 2b. The HTTP targets, side by side" in text
    assert "| median | 3,000 | 20.00 | 10,000 |" in text
    assert "| multipart, c=32 | 110× | 30.0% | n/a |" in text  # medians of the per-round ratios (no INT8 here)


def test_the_next_turn_waits_until_the_last_server_is_idle() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert wait_until_idle(idle.pid, timeout_s=5)
        started = time.monotonic()
        assert not wait_until_idle(busy.pid, timeout_s=0.6)  # still working: the turn would have waited
        assert time.monotonic() - started >= 0.6
    finally:
        for process in (idle, busy):
            process.kill()
            process.wait()
