"""``python -m benchmarks.reliability --quick`` still runs end to end and writes its JSON and Markdown report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.reliability.soak import load_generator, parse_hey, parse_wrk
from tests.service.conftest import COMMITTED_FP32, PROJECT_ROOT

pytestmark = [pytest.mark.server, pytest.mark.slow]

HEY_OUTPUT = """
Summary:
  Requests/sec:\t2552.5030

Latency distribution:
  50% in 0.0120 secs
  90% in 0.0200 secs
  99% in 0.0550 secs

Status code distribution:
  [200]\t25000 responses
  [503]\t12 responses

Error distribution:
  [3]\tPost "http://127.0.0.1:1/predict": dial tcp: connect: connection refused
"""
WRK_OUTPUT = """
  Latency Distribution
     50%  850.00us
     90%    2.10ms
     99%    1.20s
  10000 requests in 10.00s, 2.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   1000.00
"""


def test_load_generator_output_is_parsed() -> None:
    hey = parse_hey(HEY_OUTPUT)
    assert hey["statuses"] == {"200": 25000, "503": 12}
    assert (hey["requests"], hey["non_200"], hey["errors"]) == (25015, 12, 3)
    assert hey["latency"] == {"p50_ms": 12.0, "p90_ms": 20.0, "p99_ms": 55.0}
    wrk = parse_wrk(WRK_OUTPUT)
    assert (wrk["requests"], wrk["non_200"], wrk["errors"]) == (10000, 5, 3)
    assert wrk["latency"] == {"p50_ms": 0.85, "p90_ms": 2.1, "p99_ms": 1200.0}


def test_quick_run_writes_the_report(tmp_path: Path) -> None:
    if not COMMITTED_FP32.exists():
        pytest.skip(f"{COMMITTED_FP32} is missing")
    markdown = tmp_path / "RELIABILITY.md"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.reliability",
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
    if load_generator() is None:
        assert "skipped" in results["soak"]
        pytest.skip("soak not measured: neither hey nor wrk is installed (apt-get install hey)")
    assert results["soak"]["zero_errors"] and results["soak"]["requests"] > 0
    assert "RSS drift" in report
