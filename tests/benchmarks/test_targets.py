"""Tests for benchmarks.targets and benchmarks.report: verdicts follow the figures, the report renders them."""

from __future__ import annotations

from typing import Any

from benchmarks.report import render
from benchmarks.targets import evaluate_targets


def cold_start(seconds: float) -> dict[str, Any]:
    return {
        "ready_seconds_median": seconds,
        "first_prediction_seconds_median": seconds + 0.1,
        "rss_mib_after_first_prediction_median": 100.0,
        "runs": [{}],
    }


def results_with(
    onnx_ms: float,
    predict_ms: float,
    function_ms: float,
    service_rps: float,
    image_mb: float | None,
    *,
    int8_speedup: float = 2.0,
    second_worker_cpu_us: float = 500.0,
) -> dict[str, Any]:
    """Results whose figures meet every target when ``service_rps`` ≥ 1000 (half the ceiling's 2000 req/s,
    at every load, for FP32 and for INT8) and the speed-ups are large enough."""
    inprocess_rows = [
        {
            "runner": name,
            "runtime": "x",
            "batch_size": batch,
            "p50_ms": ms * batch,
            "p95_ms": ms * batch,
            "p99_ms": ms * batch,
            "items_per_s": 1e3 / ms,
            "calls": 10,
            "round_p50_ms": [ms * batch],
        }
        for batch in (1, 32)
        for name, ms in (
            ("onnx_fp32", onnx_ms),
            ("onnx_int8", onnx_ms / int8_speedup),
            ("tf_predict", predict_ms),
            ("tf_function", function_ms),
        )
    ]
    http_rows = [
        {
            "server": server,
            "workload": workload,
            "concurrency": concurrency,
            "ok_per_s": rate,
            "p50_ms": 1.0,
            "p95_ms": 2.0,
            "p99_ms": 3.0,
            "non_2xx": 0,
            "errors": 0,
        }
        for workload, concurrency in (("multipart", 32), ("multipart", 1), ("raw", 32))
        for server, rate in (
            ("service_fp32_batching", service_rps),
            ("service_int8_batching", service_rps * 1.1),
            ("tf_service", 10.0),
            ("ceiling", 2000.0),
        )
    ]
    one_worker = {"ok_per_s": 1000.0, "server_cpu_us_per_ok": 500.0, "server_cpu_cores": 0.5}
    two_workers = {"ok_per_s": 1000.0 * 1000.0 / second_worker_cpu_us, "server_cpu_us_per_ok": second_worker_cpu_us}
    medians = {"workers_1": one_worker, "workers_2": {**two_workers, "load_generator_cpu_us_per_ok": 40.0}}
    workers = {
        "rounds": [medians],
        "medians": medians,
        "median_speedup": 1.9 * 500.0 / second_worker_cpu_us,  # the rounds: below the free-core figure
        "median_speedup_on_free_cores": 2 * 500.0 / second_worker_cpu_us,
    }
    memory = {
        "service_fp32_batching": {"after_load": {"rss_mib": 90.0}},
        "tf_service": {"after_load": {"rss_mib": 600.0}},
    }
    return {
        "mode": "full",
        "plan": {"inprocess_rounds": 1, "inprocess_seconds_per_measurement": 0.1, "sections": ["inprocess", "http"]},
        "machine": {"date": "today", "cpu_model": "cpu", "logical_cores": 2, "python": "3.11", "versions": {}},
        "inprocess": {"runners": ["onnx_fp32", "tf_predict", "tf_function"], "rows": inprocess_rows, "notes": {}},
        "http": {"rows": http_rows, "memory": memory, "concurrencies": [32], "servers": {}, "workloads": {}},
        "workers": workers,
        "coldstart": {
            "servers": {
                name: cold_start(seconds) for name, seconds in (("service_fp32_batching", 0.5), ("tf_service", 5.0))
            }
        },
        "footprint": {
            "runtime_set": {"mb": 190.0, "distributions": 18, "largest": [{"name": "onnxruntime", "mb": 76.0}]},
            "tensorflow_set": {
                "mb": 1500.0,
                "distributions": 46,
                "largest": [{"name": "tensorflow-cpu", "mb": 1247.0}],
            },
            "tensorflow_roots": ["tensorflow-cpu"],
            "images": {
                "runtime": {"image": "r", "mb": image_mb, "source": "test"},
                "tensorflow": {"image": "t", "mb": 2000.0, "source": "test"},
            },
        },
    }


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    return {target.key: target.verdict for target in evaluate_targets(results)}


def test_targets_pass_when_the_figures_meet_them() -> None:
    outcome = verdicts(results_with(onnx_ms=0.05, predict_ms=50.0, function_ms=1.0, service_rps=1900.0, image_mb=150))
    assert set(outcome.values()) == {"PASS"}


def test_targets_miss_when_the_figures_fall_short() -> None:
    outcome = verdicts(results_with(onnx_ms=0.2, predict_ms=50.0, function_ms=1.0, service_rps=900.0, image_mb=300))
    assert outcome["inprocess_vs_predict"] == "MISS"  # 250×
    assert outcome["inprocess_vs_tf_function"] == "MISS"  # 5×
    assert outcome["http_vs_tf_service"] == "MISS"  # 90×
    assert outcome["http_vs_ceiling"] == "MISS"  # 45 %
    assert outcome["http_vs_ceiling_multipart_c1"] == "PASS"  # 45 % is enough at c=1
    assert outcome["http_vs_ceiling_raw_c32"] == "PASS"
    assert outcome["image_size"] == "MISS"
    assert outcome["cold_start"] == "PASS"


def test_int8_must_be_one_and_a_half_times_fp32_at_both_batch_sizes() -> None:
    outcome = verdicts(results_with(0.05, 50.0, 1.0, 1900.0, 150, int8_speedup=1.4))
    assert outcome["int8_vs_fp32_batch1"] == outcome["int8_vs_fp32_batch32"] == "MISS"


def test_a_second_worker_must_nearly_halve_the_cpu_each_request_costs() -> None:
    outcome = verdicts(results_with(0.05, 50.0, 1.0, 1900.0, 150, second_worker_cpu_us=600.0))
    assert outcome["workers_on_free_cores"] == "MISS"  # 2 × 500 / 600 = 1.67×
    assert outcome["workers"] == "MISS"  # 1.58× in the rounds
    assert outcome["http_vs_ceiling_int8"] == "PASS"


def test_missing_figures_are_not_measured() -> None:
    results = results_with(onnx_ms=0.05, predict_ms=50.0, function_ms=1.0, service_rps=1900.0, image_mb=None)
    outcome = verdicts(results)
    assert outcome["image_size"] == "NOT MEASURED"
    assert outcome["image_vs_tf_image"] == "NOT MEASURED"


def test_a_smoke_run_has_no_verdicts_even_where_its_figures_would_pass() -> None:
    results = {**results_with(onnx_ms=0.05, predict_ms=50.0, function_ms=1.0, service_rps=1900.0, image_mb=150)}
    assert set(verdicts(results).values()) == {"PASS"}
    assert set(verdicts({**results, "mode": "smoke"}).values()) == {"NOT MEASURED"}


def test_render_puts_targets_first_with_their_verdicts() -> None:
    text = render(results_with(onnx_ms=0.05, predict_ms=50.0, function_ms=1.0, service_rps=1900.0, image_mb=150))
    assert text.index("## Targets") < text.index("## 1. In-process inference")
    assert "| 1,000× |" in text  # 50 ms / 0.05 ms
    assert "Smoke run" not in text
    assert "Smoke run" in render({**results_with(0.05, 50.0, 1.0, 1900.0, 150), "mode": "smoke"})
