"""Tests for benchmarks.inprocess and benchmarks.stats: timing loops, summaries and speed-ups."""

from __future__ import annotations

import time

import pytest

from benchmarks.inprocess import speedups, time_calls
from benchmarks.stats import percentile, ratio, summarize_latencies


def test_time_calls_runs_at_least_the_minimum_and_about_the_budget() -> None:
    calls: list[int] = []
    latencies = time_calls(calls.append, 7, seconds=0.0, min_calls=5)
    assert len(latencies) == len(calls) == 5
    assert set(calls) == {7}
    started = time.perf_counter()
    latencies = time_calls(lambda _: time.sleep(0.002), None, seconds=0.05, min_calls=1)
    assert 0.05 <= time.perf_counter() - started < 1.0
    assert min(latencies) >= 0.002


def test_summary_reports_percentiles_in_ms_and_items_per_second() -> None:
    summary = summarize_latencies([0.001] * 98 + [0.010, 0.020], items_per_call=8)
    assert summary["p50_ms"] == pytest.approx(1.0)
    assert summary["p99_ms"] > summary["p95_ms"] >= 1.0
    assert summary["items_per_s"] == pytest.approx(8 * 100 / (0.098 + 0.030))


def test_percentile_and_ratio_edge_cases() -> None:
    assert percentile([1.0, 3.0], 50) == 2.0
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(6.0, 2.0) == 3.0


def test_speedups_compare_each_onnx_runner_with_each_tensorflow_runner_per_batch() -> None:
    rows = [
        {"runner": "onnx_fp32", "batch_size": 1, "p50_ms": 0.1, "items_per_s": 10_000.0},
        {"runner": "tf_predict", "batch_size": 1, "p50_ms": 50.0, "items_per_s": 20.0},
        {"runner": "tf_function", "batch_size": 1, "p50_ms": 1.0, "items_per_s": 1000.0},
        {"runner": "tf_function", "batch_size": 8, "p50_ms": 2.0, "items_per_s": 4000.0},
    ]
    result = {(entry["tensorflow"], entry["batch_size"]): entry for entry in speedups(rows)}
    assert set(result) == {("tf_predict", 1), ("tf_function", 1)}
    assert result["tf_predict", 1]["p50_speedup"] == pytest.approx(500.0)
    assert result["tf_function", 1]["throughput_ratio"] == pytest.approx(10.0)
