"""The issue's targets, evaluated as ratios from one run's results: PASS, MISS or NOT MEASURED."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.servers import CEILING, DEFAULT_SERVICE, TF_SERVICE
from benchmarks.stats import ratio

TARGET_CONCURRENCY = 32
# The thresholds (the report works out the CPU budget CEILING_SHARE leaves).
PREDICT_SPEEDUP = 500.0
TF_FUNCTION_SPEEDUP = 10.0
TF_SERVICE_SPEEDUP = 100.0
CEILING_SHARE = 0.85


@dataclass(frozen=True)
class Target:
    """One target: what it asks for, the measured value, and the verdict."""

    key: str
    goal: str
    measured: float | None
    threshold: float
    higher_is_better: bool
    detail: str
    unit: str = "×"

    @property
    def verdict(self) -> str:
        """PASS, MISS or NOT MEASURED."""
        if self.measured is None:
            return "NOT MEASURED"
        passed = self.measured >= self.threshold if self.higher_is_better else self.measured <= self.threshold
        return "PASS" if passed else "MISS"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict including the verdict."""
        return {**asdict(self), "verdict": self.verdict}


def inprocess_row(results: dict[str, Any], runner: str, batch_size: int = 1) -> dict[str, Any] | None:
    """The in-process measurement of one runner at one batch size, if measured."""
    for row in results.get("inprocess", {}).get("rows", []):
        if row["runner"] == runner and row["batch_size"] == batch_size:
            return dict(row)
    return None


def http_row(
    results: dict[str, Any], server: str, concurrency: int = TARGET_CONCURRENCY, workload: str = "multipart"
) -> dict[str, Any] | None:
    """The HTTP load run of one server, workload and concurrency, if measured."""
    for row in results.get("http", {}).get("rows", []):
        if row["server"] == server and row["workload"] == workload and row["concurrency"] == concurrency:
            return dict(row)
    return None


def _inprocess_p50(results: dict[str, Any], runner: str, batch_size: int = 1) -> float | None:
    row = inprocess_row(results, runner, batch_size)
    return float(row["p50_ms"]) if row else None


def http_rate(results: dict[str, Any], server: str, concurrency: int, workload: str = "multipart") -> float | None:
    """Successful requests per second for one server, workload and concurrency, if measured."""
    row = http_row(results, server, concurrency, workload)
    return float(row["ok_per_s"]) if row else None


def _headtohead(results: dict[str, Any], server: str) -> float | None:
    value = results.get("headtohead", {}).get("median_ok_per_s", {}).get(server)
    return float(value) if value is not None else None


def _headtohead_ratio(results: dict[str, Any], key: str) -> float | None:
    value = results.get("headtohead", {}).get("median_ratios", {}).get(key)
    return float(value) if value is not None else None


def _http_target(
    results: dict[str, Any], other: str, ratio_key: str
) -> tuple[float | None, float | None, float | None, str]:
    """(this service's req/s, the other server's req/s, their ratio, where the figures come from).

    The interleaved head-to-head rounds when they ran (medians), else the single runs of the HTTP matrix.
    """
    measured = _headtohead_ratio(results, ratio_key)
    if measured is not None:
        rounds = len(results["headtohead"].get("rounds", []))
        service, rate = _headtohead(results, DEFAULT_SERVICE), _headtohead(results, other)
        return service, rate, measured, f"; medians of {rounds} interleaved rounds"
    service, rate = (
        http_rate(results, DEFAULT_SERVICE, TARGET_CONCURRENCY),
        http_rate(results, other, TARGET_CONCURRENCY),
    )
    return service, rate, ratio(service, rate), ""


def _cold_start(results: dict[str, Any], server: str) -> float | None:
    entry = results.get("coldstart", {}).get("servers", {}).get(server)
    return float(entry["ready_seconds_median"]) if entry else None


def _rss_after_load(results: dict[str, Any], server: str) -> float | None:
    entry = results.get("http", {}).get("memory", {}).get(server, {})
    snapshot = entry.get("after_load") or entry.get("after_warmup")
    return float(snapshot["rss_mib"]) if snapshot else None


def _image_mb(results: dict[str, Any], role: str) -> float | None:
    value = results.get("footprint", {}).get("images", {}).get(role, {}).get("mb")
    return float(value) if value is not None else None


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def _ms(value: float | None) -> str:
    return _fmt(value, " ms", 3)


def _rate(value: float | None) -> str:
    return _fmt(value, " req/s", 0)


def evaluate_targets(results: dict[str, Any]) -> list[Target]:
    """Every target of the issue, from this run's figures (FP32 service with its default batching)."""
    onnx = _inprocess_p50(results, "onnx_fp32")
    predict = _inprocess_p50(results, "tf_predict")
    function = _inprocess_p50(results, "tf_function")
    service_vs_tf, tf_rate, tf_ratio, tf_source = _http_target(results, TF_SERVICE, "vs_tf_service")
    service_vs_ceiling, ceiling_rate, ceiling_ratio, ceiling_source = _http_target(results, CEILING, "vs_ceiling")
    service_start, tf_start = _cold_start(results, DEFAULT_SERVICE), _cold_start(results, TF_SERVICE)
    service_rss, tf_rss = _rss_after_load(results, DEFAULT_SERVICE), _rss_after_load(results, TF_SERVICE)
    runtime_image, tf_image = _image_mb(results, "runtime"), _image_mb(results, "tensorflow")
    return [
        Target(
            "inprocess_vs_predict",
            "in-process batch-1 p50: onnxruntime ≥ 500× faster than model.predict",
            ratio(predict, onnx),
            PREDICT_SPEEDUP,
            True,
            f"model.predict {_ms(predict)} vs onnxruntime FP32 {_ms(onnx)}",
        ),
        Target(
            "inprocess_vs_tf_function",
            "in-process batch-1 p50: onnxruntime ≥ 10× faster than tf.function",
            ratio(function, onnx),
            TF_FUNCTION_SPEEDUP,
            True,
            f"tf.function {_ms(function)} vs onnxruntime FP32 {_ms(onnx)}",
        ),
        Target(
            "http_vs_tf_service",
            f"HTTP c={TARGET_CONCURRENCY}: this service ≥ 100× the requests/s of the TensorFlow-path service",
            tf_ratio,
            TF_SERVICE_SPEEDUP,
            True,
            f"{_rate(service_vs_tf)} vs {_rate(tf_rate)}{tf_source}",
        ),
        Target(
            "http_vs_ceiling",
            f"HTTP c={TARGET_CONCURRENCY}: this service ≥ 85% of the no-op ceiling",
            ceiling_ratio,
            CEILING_SHARE,
            True,
            f"{_rate(service_vs_ceiling)} vs ceiling {_rate(ceiling_rate)}{ceiling_source}",
        ),
        Target(
            "cold_start",
            "cold start (process start → /ready 200) ≤ 1/5 of the TensorFlow-path service",
            ratio(service_start, tf_start),
            0.2,
            False,
            f"{_fmt(service_start, ' s', 2)} vs {_fmt(tf_start, ' s', 2)}",
        ),
        Target(
            "memory",
            "resident memory after the load run ≤ 1/5 of the TensorFlow-path service",
            ratio(service_rss, tf_rss),
            0.2,
            False,
            f"{_fmt(service_rss, ' MiB')} vs {_fmt(tf_rss, ' MiB')}",
        ),
        Target(
            "image_size",
            "runtime image ≤ 200 MB",
            runtime_image,
            200.0,
            False,
            f"{_fmt(runtime_image, ' MB')}",
            unit=" MB",
        ),
        Target(
            "image_vs_tf_image",
            "runtime image ≤ 1/8 of the TensorFlow-based image",
            ratio(runtime_image, tf_image),
            0.125,
            False,
            f"{_fmt(runtime_image, ' MB')} vs {_fmt(tf_image, ' MB')}",
        ),
    ]
