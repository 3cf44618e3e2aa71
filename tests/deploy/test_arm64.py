"""Run the service as linux/arm64 under qemu-user with scripts/arm64-test.sh: the edge build path, for real."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.deploy.manifests import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "arm64-test.sh"
EXIT_SKIP = 77
TIMEOUT_S = 900


@pytest.mark.emulation
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S)
def test_service_runs_on_arm64_with_the_same_answers_as_x86() -> None:
    """aarch64 wheels from the lock (hash-checked), HTTP smoke checks, SIGTERM, offline parity with x86."""
    result = subprocess.run(
        ["bash", str(SCRIPT)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S - 30, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode == EXIT_SKIP:
        skip_lines = [line for line in output.splitlines() if "SKIP" in line]
        pytest.skip(skip_lines[-1] if skip_lines else "arm64 emulation unavailable")
    assert result.returncode == 0, f"scripts/arm64-test.sh failed ({result.returncode}):\n{output[-6000:]}"
    assert "arm64-test: PASSED" in result.stderr
    assert "(aarch64) under qemu" in result.stderr
    assert result.stderr.count("100/100 same label") == 2  # FP32 and INT8


@pytest.mark.parametrize(("arguments", "environment"), [(["--bogus"], {}), ([], {"ARM64_MODEL": "fp16"})])
def test_bad_usage_exits_2_before_any_work(arguments: list[str], environment: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        check=False,
    )
    assert result.returncode == 2
    assert "usage" in result.stderr or "ARM64_MODEL" in result.stderr
