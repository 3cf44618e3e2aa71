"""The Makefile keeps the README's promises: a bare `make` lists the targets and installs nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = PROJECT_ROOT / "Makefile"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def phony_targets() -> set[str]:
    """Every target the Makefile declares .PHONY."""
    (line,) = [line for line in MAKEFILE.read_text().splitlines() if line.startswith(".PHONY:")]
    return set(line.split(":", 1)[1].split())


def test_a_bare_make_lists_every_target_and_installs_nothing(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    planned = subprocess.run(
        ["make", "-n", f"VENV={venv}"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "-m venv" not in planned and "pip install" not in planned
    shown = subprocess.run(["make", f"VENV={venv}"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert not venv.exists()
    listed = set(re.findall(r"^  ([a-z0-9-]+)\s", shown.stdout, re.M))
    assert listed == phony_targets()
