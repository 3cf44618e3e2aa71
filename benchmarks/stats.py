"""Latency summaries: percentiles and throughput from raw per-call timings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of the values, linearly interpolated."""
    if not values:
        raise ValueError("percentile of an empty sample")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summarize_latencies(seconds: Sequence[float], items_per_call: int = 1) -> dict[str, float]:
    """p50/p95/p99/mean latency in milliseconds, and items per second over the summed call time."""
    total = float(sum(seconds))
    return {
        "calls": len(seconds),
        "p50_ms": percentile(seconds, 50) * 1e3,
        "p95_ms": percentile(seconds, 95) * 1e3,
        "p99_ms": percentile(seconds, 99) * 1e3,
        "mean_ms": total / len(seconds) * 1e3,
        "items_per_s": items_per_call * len(seconds) / total if total > 0 else float("inf"),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
