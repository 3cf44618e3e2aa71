"""The requirement and lock files install on any machine: registry pins only, produced by ``make lock``."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS_DIR = PROJECT_ROOT / "requirements"
CONSTRAINTS = REQUIREMENTS_DIR / "constraints.txt"
RUNTIME_LOCK = REQUIREMENTS_DIR / "runtime.lock.txt"
LOCK_HEADER = "#    make lock"
# A local path, a file: or http(s): URL, a VCS reference: anything a fresh machine may not have.
_NOT_A_REGISTRY_PIN = re.compile(r"(@|file:|://|^\.{0,2}/|^-e\b|^--?(find-links|index-url|extra-index-url|f|i)\b)")


def logical_lines(path: Path) -> Iterator[str]:
    """The file's requirement lines: continuations joined, comments and blank lines dropped."""
    text = path.read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            yield line


def parse_pin(line: str) -> tuple[Requirement, list[str]]:
    """A ``name==version [; marker] [--hash=sha256:...]`` line as a Requirement and its hashes."""
    requirement_text, *options = re.split(r"\s+(?=--)", line)
    return Requirement(requirement_text), [option.split(":", 1)[1] for option in options if option.startswith("--hash")]


def pinned_versions(path: Path) -> dict[str, set[str]]:
    """``name -> versions`` (a universal lock may pin one version per Python range)."""
    pins: dict[str, set[str]] = {}
    for line in logical_lines(path):
        requirement, _ = parse_pin(line)
        pins.setdefault(canonicalize_name(requirement.name), set()).add(_exact_version(requirement))
    return pins


def _exact_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not an exact pin"
    return specifier.version


def requirement_files() -> list[Path]:
    """Every requirement or lock file the project ships."""
    return sorted(REQUIREMENTS_DIR.glob("*.txt"))


def test_there_are_lock_files() -> None:
    assert {CONSTRAINTS, RUNTIME_LOCK} <= set(requirement_files())


@pytest.mark.parametrize("path", requirement_files(), ids=lambda path: path.name)
def test_every_line_is_a_plain_registry_pin(path: Path) -> None:
    for line in logical_lines(path):
        assert not _NOT_A_REGISTRY_PIN.search(line.split(";", 1)[0].split(" --hash", 1)[0]), (
            f"{path.name}: {line!r} is a direct reference, a local path or a URL; pin a registry version"
        )
        try:
            requirement, _ = parse_pin(line)
        except InvalidRequirement as exc:
            pytest.fail(f"{path.name}: {line!r} is not a requirement: {exc}")
        assert requirement.url is None, f"{path.name}: {line!r} points at {requirement.url}"
        _exact_version(requirement)


@pytest.mark.parametrize("path", requirement_files(), ids=lambda path: path.name)
def test_lock_files_are_written_by_make_lock(path: Path) -> None:
    assert LOCK_HEADER in path.read_text().splitlines()[:3], f"{path.name} was not produced by `make lock`"


def test_pyproject_pins_are_the_locked_versions() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    locked = pinned_versions(CONSTRAINTS)
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is in pyproject.toml but not in {CONSTRAINTS.name}: run make lock"
        assert any(requirement.specifier.contains(version) for version in locked[name]), (
            f"{name}: pyproject.toml says {requirement.specifier}, {CONSTRAINTS.name} {sorted(locked[name])}: "
            "run make lock"
        )


def test_runtime_lock_is_hashed_at_the_constraint_versions() -> None:
    constraints = pinned_versions(CONSTRAINTS)
    for line in logical_lines(RUNTIME_LOCK):
        requirement, hashes = parse_pin(line)
        name = canonicalize_name(requirement.name)
        assert hashes, f"{name} has no --hash: pip --require-hashes would refuse the lock"
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes)
        assert _exact_version(requirement) in constraints.get(name, set()), f"{name} differs from {CONSTRAINTS.name}"


@pytest.mark.parametrize(
    "line",
    [
        "py-spy @ file:///tmp/pyspy/py_spy-0.4.3-py2.py3-none-manylinux_2_5_x86_64.whl",
        "numpy @ https://example.org/numpy-2.4.6.whl",
        "-e git+https://github.com/example/project#egg=project",
        "./wheels/pillow-13.0.0.whl",
        "--find-links /tmp/wheels",
    ],
)
def test_the_guard_catches_what_a_fresh_machine_would_not_have(line: str) -> None:
    assert _NOT_A_REGISTRY_PIN.search(line)


def test_the_guard_lets_plain_pins_with_markers_and_hashes_through() -> None:
    for line in [
        "numpy==2.4.6",
        "uvloop==0.23.0 ; sys_platform != 'win32'",
        "orjson==3.13.0 --hash=sha256:" + "0" * 64,
    ]:
        assert not _NOT_A_REGISTRY_PIN.search(line.split(";", 1)[0].split(" --hash", 1)[0])


def test_pyproject_declares_plain_pins_only() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    for text in [
        *project["dependencies"],
        *(item for extra in project["optional-dependencies"].values() for item in extra),
    ]:
        requirement = Requirement(text)
        assert requirement.url is None, f"pyproject.toml: {text!r} is a direct reference"
        _exact_version(requirement)
