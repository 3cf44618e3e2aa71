"""Build the runtime image and check it for real with scripts/image-test.sh (docker, or buildah + podman)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.scripts import (
    EXIT_SKIP,
    EXIT_USAGE,
    SCRIPTS_DIR,
    failure_message,
    path_without,
    run_check_script,
    run_script,
)

SCRIPT = SCRIPTS_DIR / "image-test.sh"
BUILD_AND_CHECK_TIMEOUT_S = 900


@pytest.mark.container
@pytest.mark.slow
@pytest.mark.timeout(BUILD_AND_CHECK_TIMEOUT_S)
def test_image_builds_runs_and_answers() -> None:
    """Size ≤ 200 MB, FP32 and INT8 predictions, offline command, no TensorFlow, non-root, clean SIGTERM."""
    result = run_check_script(
        SCRIPT, timeout=BUILD_AND_CHECK_TIMEOUT_S - 30, skip_reason="container tooling unavailable"
    )
    assert result.returncode == 0, failure_message(SCRIPT, result)
    assert "image-test: PASSED" in result.stdout


def test_missing_tooling_skips_with_a_distinct_exit_code(tmp_path: Path) -> None:
    """No container tooling: exit 77 and say why, before any build (so the test above can skip)."""
    environment = _podman_path(CONTAINER_ENV_SCRIPT=str(tmp_path / "absent.sh"), PATH=path_without(tmp_path, []))
    result = run_script(SCRIPT, "--build-only", env=environment)
    assert result.returncode == EXIT_SKIP
    assert "SKIP" in result.stderr and "absent.sh" in result.stderr


def test_installed_buildah_and_podman_are_used_as_they_are_and_may_pull(tmp_path: Path) -> None:
    """Without the set-up script, buildah + podman installed the usual way build the image (pulling the base)."""
    calls = tmp_path / "calls"
    fake = '#!/bin/sh\necho "$0 $*" >> ' + str(calls) + '\n[ "$1" != --version ] || echo "$0 version 1.0"\n'
    path = path_without(tmp_path, [("buildah", fake + '[ "$1" = --version ] || exit 1\n'), ("podman", fake)])
    environment = _podman_path(CONTAINER_ENV_SCRIPT=str(tmp_path / "absent.sh"), PATH=path)
    result = run_script(SCRIPT, "--build-only", env=environment)
    assert "(installed; no Docker engine answers here)" in result.stderr
    assert result.returncode not in (0, EXIT_SKIP)  # the fake build failed, and the script said so
    (build,) = [line for line in calls.read_text().splitlines() if " bud " in line]
    assert "--pull=missing" in build and "--target runtime" in build


@pytest.mark.parametrize(("arguments", "emulation"), [((), ""), (("--arch", "arm64"), "qemu-user for arm64")])
def test_failing_tooling_setup_skips(tmp_path: Path, arguments: tuple[str, ...], emulation: str) -> None:
    failing = tmp_path / "failing.sh"
    failing.write_text("echo 'apt-get install failed' >&2; exit 1\n")
    result = run_script(SCRIPT, *arguments, env=_podman_path(CONTAINER_ENV_SCRIPT=str(failing)))
    assert result.returncode == EXIT_SKIP
    assert "could not be installed" in result.stderr and emulation in result.stderr


def test_docker_without_an_engine_skips_and_says_so() -> None:
    """Forced docker with no engine answering (a docker CLI alone is not an engine): skip, do not fall back."""
    result = run_script(SCRIPT, env={"CONTAINER_ENGINE": "docker", "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == EXIT_SKIP
    assert "no Docker engine answers" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "environment"),
    [(("--bogus",), {}), (("--arch", "sparc"), {}), (("--arch",), {}), ((), {"CONTAINER_ENGINE": "lxc"})],
)
def test_bad_usage_exits_2_before_any_work(arguments: tuple[str, ...], environment: dict[str, str]) -> None:
    result = run_script(SCRIPT, *arguments, env=environment)
    assert result.returncode == EXIT_USAGE
    assert "usage" in result.stderr or "CONTAINER_ENGINE" in result.stderr


def _podman_path(**environment: str) -> dict[str, str]:
    """The environment for the buildah + podman path, whether or not a Docker engine answers on this machine."""
    return {"CONTAINER_ENGINE": "podman", **environment}
