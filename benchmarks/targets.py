"""The issue's targets, evaluated as ratios from one run's results: PASS, MISS or NOT MEASURED."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from benchmarks.context import CEILING, DEFAULT_SERVICE, IMAGE_SERVICE, TF_SERVICE
from benchmarks.markdown import fixed
from benchmarks.stats import ratio

TARGET_CONCURRENCY = 32
# The issue's thresholds. onnxruntime FP32's batch-1 p50 speed-ups over TensorFlow: key → (runner, its name, ×).
INPROCESS_SPEEDUPS = {
    "inprocess_vs_predict": ("tf_predict", "model.predict", 500.0),
    "inprocess_vs_tf_function": ("tf_function", "tf.function", 10.0),
}
TF_SERVICE_SPEEDUP = 100.0
# Shares of the no-op ceiling's requests/s per load (workload, concurrency): the lean request path's targets.
CEILING_SHARES = {("multipart", TARGET_CONCURRENCY): 0.50, ("multipart", 1): 0.45, ("raw", TARGET_CONCURRENCY): 0.35}
CEILING_SHARE = CEILING_SHARES[("multipart", TARGET_CONCURRENCY)]  # the report works out the CPU budget it leaves
# This service as `make serve` runs it (FP32) and as the container image does (INT8): (server, ratio key, suffix).
CEILING_SERVICES = ((DEFAULT_SERVICE, "vs_ceiling", "", "FP32"), (IMAGE_SERVICE, "int8_vs_ceiling", "_int8", "INT8"))
INT8_SPEEDUP = 1.5  # INT8 images/s over FP32's, one thread, at batch 1 and at batch 32
INT8_BATCHES = (1, 32)
WORKERS_SPEEDUP = 1.8  # two workers on two cores over one worker
TF_PATH_SHARE = 0.2  # cold start and memory: at most this share of the TensorFlow-path service's
IMAGE_MB = 200.0
TF_IMAGE_SHARE = 0.125


@dataclass(frozen=True)
class Target:
    """One target: what it asks for, the measured value, and the verdict."""

    key: str
    goal: str
    measured: float | None
    threshold: float
    detail: str
    higher_is_better: bool = True
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
    rows = results.get("inprocess", {}).get("rows", [])
    return next((row for row in rows if row["runner"] == runner and row["batch_size"] == batch_size), None)


def http_row(
    results: dict[str, Any], server: str, concurrency: int = TARGET_CONCURRENCY, workload: str = "multipart"
) -> dict[str, Any] | None:
    """The HTTP load run of one server, workload and concurrency, if measured."""
    wanted = (server, workload, concurrency)
    rows = results.get("http", {}).get("rows", [])
    return next((row for row in rows if (row["server"], row["workload"], row["concurrency"]) == wanted), None)


def figure(value: Any, *path: str) -> float | None:
    """The number at ``path`` (keys, outermost first) in results or a row of them, or None where not measured."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return None if value is None else float(value)


def http_figures(
    results: dict[str, Any], service: str, other: str, ratio_key: str, load: tuple[str, int]
) -> tuple[float | None, float | None, float | None, str]:
    """(the service's req/s, the other server's, their ratio, where they come from) under one load: the medians of
    the interleaved head-to-head rounds when they ran, else the single runs of the HTTP matrix."""
    headtohead = results.get("headtohead", {})
    for summary in (headtohead, *headtohead.get("more", [])):
        measured = figure(summary, "median_ratios", ratio_key)
        if (summary.get("workload"), summary.get("concurrency")) == load and measured is not None:
            mine, theirs = (figure(summary, "median_ok_per_s", name) for name in (service, other))
            return mine, theirs, measured, f"; medians of {len(summary['rounds'])} interleaved rounds"
    mine, theirs = (figure(http_row(results, name, load[1], load[0]), "ok_per_s") for name in (service, other))
    return mine, theirs, ratio(mine, theirs), ""


def evaluate_targets(results: dict[str, Any]) -> list[Target]:
    """Every target of the issue, from this run's figures (FP32 service with its default batching)."""
    target = partial(Target, smoke=results.get("mode") == "smoke")
    targets: list[Target] = []
    onnx = figure(inprocess_row(results, "onnx_fp32"), "p50_ms")
    for key, (runner, name, speedup) in INPROCESS_SPEEDUPS.items():
        tensorflow = figure(inprocess_row(results, runner), "p50_ms")
        goal = f"in-process batch-1 p50: onnxruntime ≥ {speedup:.0f}× faster than {name}"
        detail = f"{name} {fixed(tensorflow, 3, ' ms')} vs onnxruntime FP32 {fixed(onnx, 3, ' ms')}"
        targets.append(target(key, goal, ratio(tensorflow, onnx), speedup, detail))
    load = ("multipart", TARGET_CONCURRENCY)
    service, tf_rate, measured, source = http_figures(results, DEFAULT_SERVICE, TF_SERVICE, "vs_tf_service", load)
    goal = (
        f"HTTP c={TARGET_CONCURRENCY}: this service ≥ {TF_SERVICE_SPEEDUP:.0f}× the requests/s of the TensorFlow-path "
        "service"
    )
    detail = f"{fixed(service, 0, ' req/s')} vs {fixed(tf_rate, 0, ' req/s')}{source}"
    targets.append(target("http_vs_tf_service", goal, measured, TF_SERVICE_SPEEDUP, detail))
    for server, ratio_key, suffix, precision in CEILING_SERVICES:
        for (workload, concurrency), share in CEILING_SHARES.items():
            service, ceiling, measured, source = http_figures(
                results, server, CEILING, ratio_key, (workload, concurrency)
            )
            key = "http_vs_ceiling" if (workload, concurrency) == load else f"http_vs_ceiling_{workload}_c{concurrency}"
            goal = f"HTTP c={concurrency}, {workload}: this service ({precision}) ≥ {share:.0%} of the no-op ceiling"
            detail = f"{fixed(service, 0, ' req/s')} vs ceiling {fixed(ceiling, 0, ' req/s')}{source}"
            targets.append(target(key + suffix, goal, measured, share, detail))
    for batch in INT8_BATCHES:
        fp32, int8 = (figure(inprocess_row(results, f"onnx_{name}", batch), "items_per_s") for name in ("fp32", "int8"))
        goal = f"in-process batch {batch}: onnxruntime INT8 ≥ {INT8_SPEEDUP:g}× the images/s of FP32 (one thread)"
        detail = f"INT8 {fixed(int8, 0, ' images/s')} vs FP32 {fixed(fp32, 0, ' images/s')}"
        targets.append(target(f"int8_vs_fp32_batch{batch}", goal, ratio(int8, fp32), INT8_SPEEDUP, detail))
    workers, medians = results.get("workers", {}), results.get("workers", {}).get("medians", {})
    one, two = (figure(medians, f"workers_{count}", "ok_per_s") for count in (1, 2))
    cpu_one, cpu_two = (figure(medians, f"workers_{count}", "server_cpu_us_per_ok") for count in (1, 2))
    goal = (
        f"HTTP c={TARGET_CONCURRENCY}, multipart: 2 workers ≥ {WORKERS_SPEEDUP:g}× the requests/s of 1 worker "
        "(`wrk` on the same cores)"
    )
    wrk_us = fixed(figure(medians, "workers_2", "load_generator_cpu_us_per_ok"), 0, " µs")
    detail = f"{fixed(two, 0, ' req/s')} vs {fixed(one, 0, ' req/s')}; `wrk` itself spends {wrk_us} of CPU per request"
    targets.append(target("workers", goal, figure(workers, "median_speedup"), WORKERS_SPEEDUP, detail))
    goal = (
        f"2 workers on 2 cores of their own ≥ {WORKERS_SPEEDUP:g}× 1 worker: 2 × the server CPU per request of 1 "
        "worker over that of 2"
    )
    busy = fixed(figure(medians, "workers_1", "server_cpu_cores"), 2, " cores")
    detail = (
        f"{fixed(cpu_one, 0, ' µs')} vs {fixed(cpu_two, 0, ' µs')} of server CPU per request; 1 worker kept {busy} busy"
    )
    measured = figure(workers, "median_speedup_on_free_cores")
    targets.append(target("workers_on_free_cores", goal, measured, WORKERS_SPEEDUP, detail))
    at_most = partial(target, higher_is_better=False)
    service_start, tf_start = (
        figure(results, "coldstart", "servers", name, "ready_seconds_median") for name in (DEFAULT_SERVICE, TF_SERVICE)
    )
    goal = "cold start (process start → /ready 200) ≤ 1/5 of the TensorFlow-path service"
    detail = f"{fixed(service_start, 2, ' s')} vs {fixed(tf_start, 2, ' s')}"
    targets.append(at_most("cold_start", goal, ratio(service_start, tf_start), TF_PATH_SHARE, detail))
    memory = results.get("http", {}).get("memory", {})
    service_rss, tf_rss = (  # after the load runs, or after the warm-up when no load ran
        figure(memory, name, "after_load", "rss_mib") or figure(memory, name, "after_warmup", "rss_mib")
        for name in (DEFAULT_SERVICE, TF_SERVICE)
    )
    goal = "resident memory after the load run ≤ 1/5 of the TensorFlow-path service"
    detail = f"{fixed(service_rss, 1, ' MiB')} vs {fixed(tf_rss, 1, ' MiB')}"
    targets.append(at_most("memory", goal, ratio(service_rss, tf_rss), TF_PATH_SHARE, detail))
    image, tf_image = (figure(results, "footprint", "images", role, "mb") for role in ("runtime", "tensorflow"))
    goal = f"runtime image ≤ {IMAGE_MB:.0f} MB"
    targets.append(at_most("image_size", goal, image, IMAGE_MB, fixed(image, 1, " MB"), unit=" MB"))
    goal = "runtime image ≤ 1/8 of the TensorFlow-based image"
    detail = f"{fixed(image, 1, ' MB')} vs {fixed(tf_image, 1, ' MB')}"
    targets.append(at_most("image_vs_tf_image", goal, ratio(image, tf_image), TF_IMAGE_SHARE, detail))
    return targets
