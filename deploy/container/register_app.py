"""Container build step: register the copied ``service`` package in the image's virtualenv.

The runtime image copies ``service/`` as source instead of pip-installing the project (which would
bring setuptools and the TensorFlow-side packages along). This step gives the virtualenv what an
install would: a ``.pth`` entry for the source folder, the distribution's metadata (so
``importlib.metadata.version("cifar10-serving")`` answers) and the console scripts of
``[project.scripts]``. Standard library only: it runs with Debian's ``python3`` in the build stage.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCRIPT_TEMPLATE = """#!{python}
import sys

from {module} import {function}

sys.exit({function}())
"""


def read_project(pyproject: Path) -> Mapping[str, Any]:
    """The ``[project]`` table of a pyproject.toml file."""
    with pyproject.open("rb") as file:
        project: Mapping[str, Any] = tomllib.load(file)["project"]
    return project


def normalized(name: str) -> str:
    """The distribution name as used in ``*.dist-info`` folder names."""
    return re.sub(r"[-_.]+", "_", name).lower()


def console_scripts(project: Mapping[str, Any], packages: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``[project.scripts]`` entries whose module lives in one of ``packages``: name → (module, function)."""
    scripts: dict[str, tuple[str, str]] = {}
    for name, target in project.get("scripts", {}).items():
        module, _, function = str(target).partition(":")
        if module.split(".")[0] in packages and function:
            scripts[name] = (module, function)
    return scripts


def register(pyproject: Path, app_dir: Path, venv: Path, packages: Sequence[str]) -> list[Path]:
    """Write the .pth entry, the dist-info folder and the console scripts; return the written files."""
    project = read_project(pyproject)
    site_packages = next((venv / "lib").glob("python3.*/site-packages"))
    distribution = normalized(project["name"])
    written: list[Path] = []

    pth = site_packages / f"{distribution}.pth"
    pth.write_text(f"{app_dir}\n")
    written.append(pth)

    scripts = console_scripts(project, packages)
    for name, (module, function) in scripts.items():
        script = venv / "bin" / name
        script.write_text(SCRIPT_TEMPLATE.format(python=venv / "bin" / "python", module=module, function=function))
        script.chmod(0o755)
        written.append(script)

    dist_info = site_packages / f"{distribution}-{project['version']}.dist-info"
    dist_info.mkdir(exist_ok=True)
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '')}",
        *(f"Requires-Dist: {requirement}" for requirement in project.get("dependencies", [])),
    ]
    files = {
        "METADATA": "\n".join(metadata) + "\n",
        "INSTALLER": "cifar10-serving-image\n",
        "top_level.txt": "".join(f"{package}\n" for package in packages),
        "entry_points.txt": "[console_scripts]\n"
        + "".join(f"{name} = {module}:{function}\n" for name, (module, function) in scripts.items()),
    }
    for file_name, text in files.items():
        (dist_info / file_name).write_text(text)
        written.append(dist_info / file_name)
    record = dist_info / "RECORD"
    record.write_text("".join(f"{path},,\n" for path in [*written, record]))
    return [*written, record]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point used by the Dockerfile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pyproject", type=Path, required=True)
    parser.add_argument("--app-dir", type=Path, required=True, help="folder that holds the copied packages")
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--package", action="append", required=True, help="a copied top-level package")
    arguments = parser.parse_args(argv)
    for path in register(arguments.pyproject, arguments.app_dir, arguments.venv, arguments.package):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
