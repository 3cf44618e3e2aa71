"""The issue's targets, evaluated as ratios from one run's results: PASS, MISS or NOT MEASURED."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from benchmarks.context import CEILING, DEFAULT_SERVICE, IMAGE_SERVICE, TF_SERVICE
from benchmarks.markdown import fixed
from benchmarks.stats import ratio

TARGET_CONCURRENCY = 32
# The thresholds (the report also works out the CPU budget CEILING_SHARE leaves).
PREDICT_SPEEDUP = 500.0
TF_FUNCTION_SPEEDUP = 10.0
TF_SERVICE_SPEEDUP = 100.0
# Shares of the no-op ceiling's requests/s per load (workload, concurrency): the lean request path's targets.
CEILING_SHARES = {("multipart", TARGET_CONCURRENCY): 0.50, ("multipart", 1): 0.45, ("raw", TARGET_CONCURRENCY): 0.35}
CEILING_SHARE = CEILING_SHARES[("multipart", TARGET_CONCURRENCY)]
INT8_SPEEDUP = 1.5  # INT8 images/s over FP32's, one thread, at batch 1 and at batch 32
WORKERS_SPEEDUP = 1.8  # two workers on two cores over one worker
INT8_BATCHES = (1, 32)


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
    smoke: bool = False  # from a smoke run: its figures mean nothing, so it has no verdict

    @property
    def verdict(self) -> str:
        """PASS, MISS or NOT MEASURED (always, for a smoke run)."""
        if self.measured is None or self.smoke:
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


def figure(value: Any, *path: str) -> float | None:
    """The number at ``path`` (keys, outermost first) in results or a row of them, or None where it was not
    measured."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return None if value is None else float(value)


def http_rate(results: dict[str, Any], server: str, concurrency: int, workload: str = "multipart") -> float | None:
    """Successful requests per second for one server, workload and concurrency, if measured."""
    return figure(http_row(results, server, concurrency, workload), "ok_per_s")


def headtohead_summary(
    results: dict[str, Any], workload: str = "multipart", concurrency: int = TARGET_CONCURRENCY
) -> dict[str, Any] | None:
    """The interleaved rounds of one load, if they ran (the target concurrency's at the top, the others in
    ``more``)."""
    headtohead = results.get("headtohead", {})
    for summary in (headtohead, *headtohead.get("more", [])):
        if summary.get("workload") == workload and summary.get("concurrency") == concurrency and "rounds" in summary:
            return dict(summary)
    return None


def _http_target(
    results: dict[str, Any],
    other: str,
    ratio_key: str,
    workload: str = "multipart",
    concurrency: int = TARGET_CONCURRENCY,
    *,
    service_name: str = DEFAULT_SERVICE,
) -> tuple[float | None, float | None, float | None, str]:
    """(this service's req/s, the other server's req/s, their ratio, where the figures come from).

    The interleaved head-to-head rounds when they ran (medians), else the single runs of the HTTP matrix.
    """
    summary = headtohead_summary(results, workload, concurrency)
    measured = figure(summary, "median_ratios", ratio_key)
    if summary is not None and measured is not None:
        service, rate = (figure(summary, "median_ok_per_s", name) for name in (service_name, other))
        return service, rate, measured, f"; medians of {len(summary['rounds'])} interleaved rounds"
    service, rate = (http_rate(results, name, concurrency, workload) for name in (service_name, other))
    return service, rate, ratio(service, rate), ""


# This service as `make serve` runs it (FP32) and as the container image does (INT8): (server, ratio key, suffix).
CEILING_SERVICES = ((DEFAULT_SERVICE, "vs_ceiling", "", "FP32"), (IMAGE_SERVICE, "int8_vs_ceiling", "_int8", "INT8"))


def _ceiling_targets(results: dict[str, Any]) -> list[Target]:
    targets = []
    for server, ratio_key, suffix, precision in CEILING_SERVICES:
        for (workload, concurrency), share in CEILING_SHARES.items():
            service, ceiling, measured, source = _http_target(
                results, CEILING, ratio_key, workload, concurrency, service_name=server
            )
            primary = (workload, concurrency) == ("multipart", TARGET_CONCURRENCY)
            targets.append(
                Target(
                    ("http_vs_ceiling" if primary else f"http_vs_ceiling_{workload}_c{concurrency}") + suffix,
                    f"HTTP c={concurrency}, {workload}: this service ({precision}) ≥ {share:.0%} of the no-op ceiling",
                    measured,
                    share,
                    True,
                    f"{fixed(service, 0, ' req/s')} vs ceiling {fixed(ceiling, 0, ' req/s')}{source}",
                )
            )
    return targets


def _int8_targets(results: dict[str, Any]) -> list[Target]:
    targets = []
    for batch in INT8_BATCHES:
        fp32, int8 = (
            figure(inprocess_row(results, runner, batch), "items_per_s") for runner in ("onnx_fp32", "onnx_int8")
        )
        targets.append(
            Target(
                f"int8_vs_fp32_batch{batch}",
                f"in-process batch {batch}: onnxruntime INT8 ≥ {INT8_SPEEDUP:g}× the images/s of FP32 (one thread)",
                ratio(int8, fp32),
                INT8_SPEEDUP,
                True,
                f"INT8 {fixed(int8, 0, ' images/s')} vs FP32 {fixed(fp32, 0, ' images/s')}",
            )
        )
    return targets


def _workers_targets(results: dict[str, Any]) -> list[Target]:
    workers = results.get("workers", {})
    one, two = (figure(workers, "medians", f"workers_{count}", "ok_per_s") for count in (1, 2))
    client = figure(workers, "medians", "workers_2", "load_generator_cpu_us_per_ok")
    cpu_one, cpu_two = (figure(workers, "medians", f"workers_{count}", "server_cpu_us_per_ok") for count in (1, 2))
    return [
        Target(
            "workers",
            f"HTTP c={TARGET_CONCURRENCY}, multipart: 2 workers ≥ {WORKERS_SPEEDUP:g}× the requests/s of 1 worker "
            "(the load generator on the same cores)",
            figure(workers, "median_speedup"),
            WORKERS_SPEEDUP,
            True,
            f"{fixed(two, 0, ' req/s')} vs {fixed(one, 0, ' req/s')}; `hey` itself spends "
            f"{fixed(client, 0, ' µs')} of CPU per request",
        ),
        Target(
            "workers_on_free_cores",
            f"2 workers on 2 cores of their own ≥ {WORKERS_SPEEDUP:g}× 1 worker: 2 × the server CPU per request "
            "of 1 worker over that of 2",
            figure(workers, "median_speedup_on_free_cores"),
            WORKERS_SPEEDUP,
            True,
            f"{fixed(cpu_one, 0, ' µs')} vs {fixed(cpu_two, 0, ' µs')} of server CPU per request; 1 worker kept "
            f"{fixed(figure(workers, 'medians', 'workers_1', 'server_cpu_cores'), 2, ' cores')} busy",
        ),
    ]


def _rss_after_load(results: dict[str, Any], server: str) -> float | None:
    after_load = figure(results, "http", "memory", server, "after_load", "rss_mib")
    return (
        after_load if after_load is not None else figure(results, "http", "memory", server, "after_warmup", "rss_mib")
    )


def evaluate_targets(results: dict[str, Any]) -> list[Target]:
    """Every target of the issue, from this run's figures (FP32 service with its default batching)."""
    runners = ("onnx_fp32", "tf_predict", "tf_function")
    onnx, predict, function = (figure(inprocess_row(results, runner), "p50_ms") for runner in runners)
    service_vs_tf, tf_rate, tf_ratio, tf_source = _http_target(results, TF_SERVICE, "vs_tf_service")
    service_start, tf_start = (
        figure(results, "coldstart", "servers", name, "ready_seconds_median") for name in (DEFAULT_SERVICE, TF_SERVICE)
    )
    service_rss, tf_rss = _rss_after_load(results, DEFAULT_SERVICE), _rss_after_load(results, TF_SERVICE)
    runtime_image, tf_image = (figure(results, "footprint", "images", role, "mb") for role in ("runtime", "tensorflow"))
    targets = [
        Target(
            "inprocess_vs_predict",
            f"in-process batch-1 p50: onnxruntime ≥ {PREDICT_SPEEDUP:.0f}× faster than model.predict",
            ratio(predict, onnx),
            PREDICT_SPEEDUP,
            True,
            f"model.predict {fixed(predict, 3, ' ms')} vs onnxruntime FP32 {fixed(onnx, 3, ' ms')}",
        ),
        Target(
            "inprocess_vs_tf_function",
            f"in-process batch-1 p50: onnxruntime ≥ {TF_FUNCTION_SPEEDUP:.0f}× faster than tf.function",
            ratio(function, onnx),
            TF_FUNCTION_SPEEDUP,
            True,
            f"tf.function {fixed(function, 3, ' ms')} vs onnxruntime FP32 {fixed(onnx, 3, ' ms')}",
        ),
        Target(
            "http_vs_tf_service",
            f"HTTP c={TARGET_CONCURRENCY}: this service ≥ {TF_SERVICE_SPEEDUP:.0f}× the requests/s of the "
            "TensorFlow-path service",
            tf_ratio,
            TF_SERVICE_SPEEDUP,
            True,
            f"{fixed(service_vs_tf, 0, ' req/s')} vs {fixed(tf_rate, 0, ' req/s')}{tf_source}",
        ),
        *_ceiling_targets(results),
        *_int8_targets(results),
        *_workers_targets(results),
        Target(
            "cold_start",
            "cold start (process start → /ready 200) ≤ 1/5 of the TensorFlow-path service",
            ratio(service_start, tf_start),
            0.2,
            False,
            f"{fixed(service_start, 2, ' s')} vs {fixed(tf_start, 2, ' s')}",
        ),
        Target(
            "memory",
            "resident memory after the load run ≤ 1/5 of the TensorFlow-path service",
            ratio(service_rss, tf_rss),
            0.2,
            False,
            f"{fixed(service_rss, 1, ' MiB')} vs {fixed(tf_rss, 1, ' MiB')}",
        ),
        Target(
            "image_size", "runtime image ≤ 200 MB", runtime_image, 200.0, False, fixed(runtime_image, 1, " MB"), " MB"
        ),
        Target(
            "image_vs_tf_image",
            "runtime image ≤ 1/8 of the TensorFlow-based image",
            ratio(runtime_image, tf_image),
            0.125,
            False,
            f"{fixed(runtime_image, 1, ' MB')} vs {fixed(tf_image, 1, ' MB')}",
        ),
    ]
    smoke = results.get("mode") == "smoke"
    return [replace(target, smoke=smoke) for target in targets]
