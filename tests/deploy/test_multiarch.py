"""The edge image: linux/arm64 built, run under qemu-user and compared with amd64, both under one name.

scripts/multiarch.sh --check builds both images with scripts/image-test.sh (the arm64 one under emulation, then
every image check on it), compares their answers on 100 real test images, puts both under one manifest list and
pulls it back per architecture from a local registry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.scripts import (
    EXIT_SKIP,
    EXIT_USAGE,
    SCRIPTS_DIR,
    failure_message,
    output,
    path_without,
    run_check_script,
    run_script,
)

SCRIPT = SCRIPTS_DIR / "multiarch.sh"
# Cold (no base image, no layer cache): about 8 minutes on a 2-core machine; cached: about 1 minute.
TIMEOUT_S = 1800
MAX_IMAGE_MB = 200


@pytest.mark.container
@pytest.mark.emulation
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S)
def test_arm64_image_runs_answers_like_amd64_and_shares_one_name() -> None:
    result = run_check_script(
        SCRIPT, "--check", timeout=TIMEOUT_S - 30, skip_reason="container tooling or arm64 emulation unavailable"
    )
    assert result.returncode == 0, failure_message(SCRIPT, result)
    text = output(result)
    assert "multiarch: PASSED" in result.stderr
    # Built for arm64, small enough, and the onnxruntime check the emulated build deferred ran on the image.
    size = re.search(r"image-test: image \S+ \(linux/arm64\) size: (\d+) MB", result.stdout)
    assert size and int(size[1]) <= MAX_IMAGE_MB, text[-3000:]
    assert re.search(r"runtime check in the image: ok   cifar10-serving .* on aarch64", result.stderr)
    # The arm64 server, run for real: readiness, multipart and raw predictions, V2, SIGTERM.
    assert "service process runs as uid 10001, on aarch64" in result.stderr
    for check in ("smoke: ok   multipart /predict", "smoke: ok   raw-body /predict", "smoke: ok   V2 /infer"):
        assert result.stdout.count(check) == 2, f"{check!r} for FP32 and INT8"
    assert "SIGTERM: drained, clean exit 0" in result.stderr
    assert "PASSED (cifar10-serving:test-arm64, linux/arm64" in result.stdout
    # The same answers as amd64, with both models.
    assert result.stderr.count("on 100 real test images, arm64 image vs amd64 image: 100/100 same label") == 2
    # One name; a pull on either architecture gets its own image.
    assert "linux/amd64 gets the amd64 image" in result.stderr
    assert "linux/arm64 gets the arm64 image" in result.stderr


def test_unknown_argument_is_a_usage_error() -> None:
    result = run_script(SCRIPT, "--bogus")
    assert result.returncode == EXIT_USAGE
    assert "usage" in result.stderr


def test_missing_tooling_skips_before_any_build(tmp_path: Path) -> None:
    environment = {"CONTAINER_ENV_SCRIPT": str(tmp_path / "absent.sh"), "PATH": path_without(tmp_path, [])}
    result = run_script(SCRIPT, env=environment)
    assert result.returncode == EXIT_SKIP
    assert "SKIP" in result.stderr and "absent.sh" in result.stderr
