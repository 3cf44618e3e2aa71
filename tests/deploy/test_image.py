"""Build the runtime image and check it for real with scripts/image-test.sh (buildah + podman)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "image-test.sh"
EXIT_SKIP = 77
BUILD_AND_CHECK_TIMEOUT_S = 900


@pytest.mark.container
@pytest.mark.slow
@pytest.mark.timeout(BUILD_AND_CHECK_TIMEOUT_S)
def test_image_builds_runs_and_answers() -> None:
    """Size ≤ 200 MB, FP32 and INT8 predictions, offline command, no TensorFlow, non-root, clean SIGTERM."""
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_AND_CHECK_TIMEOUT_S - 30,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode == EXIT_SKIP:
        skip_lines = [line for line in output.splitlines() if "SKIP" in line]
        pytest.skip(skip_lines[-1] if skip_lines else "container tooling unavailable")
    assert result.returncode == 0, f"scripts/image-test.sh failed ({result.returncode}):\n{output[-6000:]}"
    assert "image-test: PASSED" in result.stdout


def test_missing_tooling_skips_with_a_distinct_exit_code(tmp_path: Path) -> None:
    """No container tooling: exit 77 and say why, before any build (so the test above can skip)."""
    environment = {**os.environ, "CONTAINER_ENV_SCRIPT": str(tmp_path / "absent.sh")}
    result = subprocess.run(
        ["bash", str(SCRIPT), "--build-only"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert result.returncode == EXIT_SKIP
    assert "SKIP" in result.stderr and "absent.sh" in result.stderr


def test_failing_tooling_setup_skips(tmp_path: Path) -> None:
    failing = tmp_path / "failing.sh"
    failing.write_text("echo 'apt-get install failed' >&2; exit 1\n")
    environment = {**os.environ, "CONTAINER_ENV_SCRIPT": str(failing)}
    result = subprocess.run(
        ["bash", str(SCRIPT)], cwd=PROJECT_ROOT, capture_output=True, text=True, env=environment, check=False
    )
    assert result.returncode == EXIT_SKIP
    assert "could not be installed" in result.stderr


def test_unknown_argument_is_a_usage_error() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), "--bogus"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "usage" in result.stderr
