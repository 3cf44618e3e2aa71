"""deploy/container/register_app.py: the copied package becomes an installed distribution of a venv."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from deploy.container.register_app import console_scripts, main, normalized, register

PYPROJECT = """\
[project]
name = "cifar10-serving"
version = "1.2.3"
dependencies = ["numpy==2.4.6"]

[project.scripts]
cifar10-serve = "service.__main__:main"
cifar10-predict = "service.offline:main"
train-it = "training.train:main"
"""


def make_venv(tmp_path: Path) -> tuple[Path, Path, Path]:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(PYPROJECT)
    venv = tmp_path / "venv"
    site_packages = venv / "lib" / "python3.11" / "site-packages"
    site_packages.mkdir(parents=True)
    (venv / "bin").mkdir()
    return pyproject, venv, site_packages


def test_registers_metadata_pth_and_only_the_copied_packages_scripts(tmp_path: Path) -> None:
    pyproject, venv, site_packages = make_venv(tmp_path)
    written = register(pyproject, Path("/app"), venv, ["service"])

    assert (site_packages / "cifar10_serving.pth").read_text() == "/app\n"
    distribution = next(iter(importlib.metadata.distributions(path=[str(site_packages)])))
    assert (distribution.metadata["Name"], distribution.version) == ("cifar10-serving", "1.2.3")
    assert distribution.requires == ["numpy==2.4.6"]
    scripts = {entry.name: entry.value for entry in distribution.entry_points}
    assert scripts == {"cifar10-serve": "service.__main__:main", "cifar10-predict": "service.offline:main"}
    serve = venv / "bin" / "cifar10-serve"
    assert serve.read_text().startswith(f"#!{venv}/bin/python\n")
    assert "from service.__main__ import main" in serve.read_text()
    assert serve.stat().st_mode & 0o111
    assert not (venv / "bin" / "train-it").exists()
    assert all(path.exists() for path in written)


def test_console_scripts_filters_by_package() -> None:
    project = {"scripts": {"a": "service.x:run", "b": "export:main", "c": "service.y"}}
    assert console_scripts(project, ["service"]) == {"a": ("service.x", "run")}


def test_normalized_name() -> None:
    assert normalized("Cifar10-Serving.x") == "cifar10_serving_x"


def test_main_prints_the_written_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject, venv, site_packages = make_venv(tmp_path)
    args = ["--pyproject", str(pyproject), "--app-dir", "/app", "--venv", str(venv), "--package", "service"]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert str(site_packages / "cifar10_serving.pth") in printed
    assert str(venv / "bin" / "cifar10-predict") in printed
