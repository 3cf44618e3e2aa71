"""Run the project's check scripts (scripts/image-test.sh, scripts/arm64-test.sh) from the deployment tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import pytest

from tests.deploy.manifests import PROJECT_ROOT

SCRIPTS_DIR: Final = PROJECT_ROOT / "scripts"

# The exit codes of scripts/lib.sh.
EXIT_FAIL: Final = 1
EXIT_USAGE: Final = 2
EXIT_SKIP: Final = 77

OUTPUT_TAIL_CHARS: Final = 6000


def run_script(
    script: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``bash script args...`` from the project root, output captured; ``env`` is added to the current environment."""
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env} if env is not None else None,
        timeout=timeout,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """The script's standard output followed by its standard error."""
    return result.stdout + result.stderr


def run_check_script(
    script: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    skip_reason: str = "the script's tooling is unavailable on this machine",
) -> subprocess.CompletedProcess[str]:
    """Like :func:`run_script`, but skip the calling test when the script exits ``EXIT_SKIP``.

    The skip reason is the script's last ``SKIP`` line (``skip_reason`` when it printed none).
    """
    result = run_script(script, *args, env=env, timeout=timeout)
    if result.returncode == EXIT_SKIP:
        skip_lines = [line for line in output(result).splitlines() if "SKIP" in line]
        pytest.skip(skip_lines[-1] if skip_lines else skip_reason)
    return result


def failure_message(script: Path, result: subprocess.CompletedProcess[str]) -> str:
    """``scripts/NAME.sh failed (STATUS):`` and the tail of its output, for an assertion message."""
    return f"{script.relative_to(PROJECT_ROOT)} failed ({result.returncode}):\n{output(result)[-OUTPUT_TAIL_CHARS:]}"


def path_without(folder: Path, programs: list[tuple[str, str]]) -> str:
    """A PATH of links to this machine's programs, buildah, podman and docker left out, plus ``programs``
    (name, shell script) written there."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    for system_dir in (Path("/usr/local/bin"), Path("/usr/bin"), Path("/bin")):
        for program in system_dir.iterdir() if system_dir.is_dir() else ():
            link = bin_dir / program.name
            if program.name not in {"buildah", "podman", "docker"} and not link.exists():
                link.symlink_to(program)
    for name, script in programs:
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)
