"""Run the service as linux/arm64 under qemu-user with scripts/arm64-test.sh: the edge build path, for real."""

from __future__ import annotations

import pytest

from tests.deploy.scripts import EXIT_USAGE, SCRIPTS_DIR, failure_message, run_check_script, run_script

SCRIPT = SCRIPTS_DIR / "arm64-test.sh"
TIMEOUT_S = 900


@pytest.mark.emulation
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S)
def test_service_runs_on_arm64_with_the_same_answers_as_x86() -> None:
    """aarch64 wheels from the lock (hash-checked), HTTP smoke checks, SIGTERM, offline parity with x86."""
    result = run_check_script(SCRIPT, timeout=TIMEOUT_S - 30, skip_reason="arm64 emulation unavailable")
    assert result.returncode == 0, failure_message(SCRIPT, result)
    assert "arm64-test: PASSED" in result.stderr
    assert "(aarch64) under qemu" in result.stderr
    assert result.stderr.count("100/100 same label") == 2  # FP32 and INT8
    assert "SIGTERM drained and exited 0" in result.stderr


@pytest.mark.parametrize(("arguments", "environment"), [(["--bogus"], {}), ([], {"ARM64_MODEL": "fp16"})])
def test_bad_usage_exits_2_before_any_work(arguments: list[str], environment: dict[str, str]) -> None:
    result = run_script(SCRIPT, *arguments, env=environment)
    assert result.returncode == EXIT_USAGE
    assert "usage" in result.stderr or "ARM64_MODEL" in result.stderr
