"""The smoke run of `python -m benchmarks`: every section runs end to end in seconds, so the scripts cannot rot.

Only the shape of the output is checked here, never the figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.config import DATASET_ARCHIVE, PROJECT_ROOT, find_keras_model
from benchmarks.load import hey_available, wrk_available
from service.stages import STAGES

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.dataset, pytest.mark.tensorflow]

SMOKE_TIMEOUT_SECONDS = 240
SmokeRun = tuple[dict[str, Any], str, Path]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    if not DATASET_ARCHIVE.is_file():
        pytest.skip(f"dataset archive not found at {DATASET_ARCHIVE}")
    if not hey_available() or not wrk_available():
        pytest.skip("hey or wrk is not installed (make system-deps)")
    output = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((output / "results.json").read_text())
    return results, completed.stderr, output


def test_dataset_archive_is_the_training_default() -> None:
    from training.data import DEFAULT_ARCHIVE

    assert DATASET_ARCHIVE == DEFAULT_ARCHIVE


def test_every_section_ran_without_errors(smoke_run: SmokeRun) -> None:
    results, progress, _ = smoke_run
    assert results["mode"] == "smoke"
    assert results["errors"] == {}
    assert set(results["plan"]["sections"]) <= set(results)
    assert "inprocess: batch 1 p50" in progress  # progress is shown while running


def test_inprocess_measured_both_runtimes(smoke_run: SmokeRun) -> None:
    results, _, _ = smoke_run
    runners = {row["runner"] for row in results["inprocess"]["rows"]}
    assert {"onnx_fp32", "onnx_int8"} <= runners
    if find_keras_model(None) is not None:
        assert {"tf_predict", "tf_direct_call", "tf_function"} <= runners
    for row in results["inprocess"]["rows"]:
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["calls"] >= 2


def test_http_servers_answered(smoke_run: SmokeRun) -> None:
    results, _, _ = smoke_run
    http = results["http"]
    assert "service_fp32_batching" in http["memory"]
    assert http["memory"]["service_fp32_batching"]["after_warmup"]["rss_mib"] > 10
    served = {(row["server"], row["workload"]) for row in http["rows"]}
    assert {("service_fp32_batching", "multipart"), ("service_fp32_batching", "v2"), ("ceiling", "multipart")} <= served
    for row in http["rows"]:
        assert row["ok"] > 0, row
        assert row["errors"] == 0, row


def test_head_to_head_rounds_compare_the_targets_servers(smoke_run: SmokeRun) -> None:
    results, _, _ = smoke_run
    headtohead = results["headtohead"]
    assert len(headtohead["rounds"]) == results["plan"]["headtohead_rounds"] == 1
    services = {"service_fp32_batching", "service_int8_batching", "ceiling"}
    expected = services | ({"tf_service"} if find_keras_model(None) else set())
    assert set(headtohead["median_ok_per_s"]) == expected
    assert all(rate > 0 for rate in headtohead["median_ok_per_s"].values())
    assert {"vs_ceiling", "int8_vs_ceiling"} <= set(headtohead["median_ratios"])
    # The other loads the targets name: this service (FP32 and INT8) and the ceiling alone.
    assert {(more["workload"], more["concurrency"]) for more in headtohead["more"]} == {("multipart", 1), ("raw", 32)}
    for more in headtohead["more"]:
        assert set(more["median_ok_per_s"]) == services
        assert more["median_ratios"]["vs_ceiling"] > 0 and more["median_ratios"]["int8_vs_ceiling"] > 0


def test_one_and_two_workers_take_turns_under_the_same_load(smoke_run: SmokeRun) -> None:
    results, _, _ = smoke_run
    workers = results["workers"]
    assert workers["load_generator"] == "wrk"
    # One worker on one CPU, two on two (this machine has at least two); wrk beside the one worker, not on its CPU.
    assert [len(workers["cpus"][name]) for name in ("workers_1", "workers_2")] == [1, 2]
    assert not set(workers["cpus"]["workers_1"]) & set(workers["load_cpus"]["workers_1"])
    assert len(workers["rounds"]) == results["plan"]["headtohead_rounds"]
    for measured in workers["rounds"]:
        assert set(measured) == {"workers_1", "workers_2"}
        for turn in measured.values():
            assert turn["ok_per_s"] > 0 and turn["server_cpu_us_per_ok"] > 0
            assert turn["load_generator_cpu_us_per_ok"] > 0  # wrk's own CPU, from the children's rusage
    assert workers["median_speedup"] > 0 and workers["median_speedup_on_free_cores"] > 0


def test_the_stage_table_adds_up_to_at_most_the_whole_request(smoke_run: SmokeRun) -> None:
    results, _, output = smoke_run
    stages = results["profile"]["stages"]
    for workload in ("multipart", "raw"):
        service = stages["service_fp32_batching"][workload]
        cpu_stages = {stage: us for stage, us in service["stages_us"].items() if stage != "queue"}
        assert set(service["stages_us"]) == set(STAGES)
        assert all(us > 0 for us in cpu_stages.values()), cpu_stages
        # CPU time of the stages' threads is part of the process's: allow the coarse /proc clock tick.
        assert sum(cpu_stages.values()) <= service["server_cpu_us"] * 1.2 + 10_000 / max(service["requests"], 1)
        assert stages["ceiling"][workload]["server_cpu_us"] > 0
    assert "### Stage by stage" in (output / "RESULTS.md").read_text()


def test_python_after_onnxruntime_was_timed(smoke_run: SmokeRun) -> None:
    sharing = smoke_run[0]["sharing"]
    conditions = {row["condition"]: row for row in sharing["conditions"]}
    assert {"back to back", "after onnxruntime FP32, batch 1", "after onnxruntime INT8, batch 1"} <= set(conditions)
    assert conditions["back to back"]["vs_back_to_back"] == 1.0
    assert all(row["median_us"] > 0 for row in sharing["conditions"])
    assert "blas_probe" in sharing or "blas" in sharing["notes"]


def test_cold_start_large_photo_and_footprint(smoke_run: SmokeRun) -> None:
    results, _, _ = smoke_run
    service = results["coldstart"]["servers"]["service_fp32_batching"]
    assert 0 < service["ready_seconds_median"] <= service["first_prediction_seconds_median"]
    assert results["largephoto"]["servers"]["service_fp32_batching"]["statuses"] == [200]
    assert results["largephoto"]["megapixels"] >= 12
    assert results["footprint"]["tensorflow_set"]["mb"] > results["footprint"]["runtime_set"]["mb"] > 0


def test_the_report_is_written(smoke_run: SmokeRun) -> None:
    results, _, output = smoke_run
    report = (output / "RESULTS.md").read_text()
    assert report.index("## Targets") < report.index("## 1. In-process inference")
    assert "Smoke run" in report
    assert {target["verdict"] for target in results["targets"]} <= {"PASS", "MISS", "NOT MEASURED"}


def test_results_name_project_files_relative_to_the_project(smoke_run: SmokeRun) -> None:
    results, _, output = smoke_run
    assert results["plan"]["models_dir"] == "models"  # portable: no /home/<user>/… in committed results
    assert results["plan"]["output_dir"] == str(output.resolve())  # outside the project: stays absolute
    if results["models"]["keras_model"] is not None:
        assert results["models"]["keras_model"] == "models/best_model.keras"
