"""``python -m reliability --quick`` still runs end to end and writes its JSON and Markdown report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.load import hey_available
from tests.service.conftest import COMMITTED_FP32, PROJECT_ROOT

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_quick_run_writes_the_report(tmp_path: Path) -> None:
    if not COMMITTED_FP32.exists():
        pytest.skip(f"{COMMITTED_FP32} is missing")
    markdown = tmp_path / "RELIABILITY.md"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "reliability",
            "--quick",
            "--output",
            str(tmp_path),
            "--markdown",
            str(markdown),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((tmp_path / "reliability.json").read_text())
    assert results["quick"] is True and results["all_passed"] is True
    assert results["hostile_inputs"]["passed"] == results["hostile_inputs"]["cases"] >= 40
    assert results["sigterm"]["clean"] and results["overload"]["shed_and_recovered"]
    assert all(fault["survived"] for fault in results["startup_faults"])
    report = markdown.read_text()
    assert "## Hostile inputs" in report and results["machine"]["cpu_model"] in report
    if not hey_available():
        assert "skipped" in results["soak"]
        pytest.skip("soak not measured: hey is not installed (apt-get install hey)")
    assert results["soak"]["zero_errors"] and results["soak"]["requests"] > 0
    assert "RSS drift" in report
