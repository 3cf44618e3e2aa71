"""Footprint: installed size of the runtime dependency set vs the TensorFlow path, and container image sizes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmarks.config import PROJECT_ROOT
from benchmarks.context import BenchContext

MB = 1_000_000  # decimal megabytes, as image sizes and the 200 MB target are quoted
# What the original TensorFlow service installs: TensorFlow, FastAPI (+ its server and upload parser), Pillow.
TF_PATH_ROOTS: tuple[str, ...] = ("tensorflow-cpu", "fastapi", "uvicorn", "python-multipart", "pillow", "numpy")
RUNTIME_IMAGE = "cifar10-serving:test"
TF_IMAGE = "cifar10-tf-path:bench"
CONTAINER_STATE = Path(os.environ.get("CONTAINER_STATE", "/var/tmp/container-env"))


def canonical(name: str) -> str:
    """The normalised distribution name (PEP 503)."""
    return str(canonicalize_name(name))


def runtime_roots(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> tuple[str, ...]:
    """The `[project] dependencies` of the project, as requirement strings."""
    with pyproject.open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return tuple(project.get("dependencies", ()))


def closure(roots: Iterable[str]) -> dict[str, Distribution]:
    """Every installed distribution the roots need (markers evaluated here, requested extras followed)."""
    found: dict[str, Distribution] = {}
    pending: list[Requirement] = [Requirement(root) for root in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        key = (canonical(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            continue
        found[canonical(requirement.name)] = dist
        for line in dist.requires or []:
            child = Requirement(line)
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in ("", *requirement.extras)
            ):
                pending.append(child)
    return found


def installed_bytes(dist: Distribution) -> int:
    """Bytes on disk of every file the distribution's RECORD lists."""
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total


def set_size(distributions: Mapping[str, Distribution], largest: int = 8) -> dict[str, Any]:
    """Total MB of a set of distributions, their count and the largest ones."""
    sizes = {name: installed_bytes(dist) for name, dist in distributions.items()}
    ranked = sorted(sizes.items(), key=lambda item: item[1], reverse=True)
    return {
        "mb": sum(sizes.values()) / MB,
        "distributions": len(sizes),
        "largest": [{"name": name, "mb": size / MB} for name, size in ranked[:largest]],
        "names": sorted(sizes),
    }


def container_environment() -> dict[str, str] | None:
    """podman's environment from ../shared/tools/container-env.sh state, or None when there is no podman."""
    if shutil.which("podman") is None:
        return None
    environment = dict(os.environ)
    storage, config = CONTAINER_STATE / "storage.conf", CONTAINER_STATE / "containers.conf"
    if "CONTAINERS_STORAGE_CONF" not in environment and storage.is_file():
        environment["CONTAINERS_STORAGE_CONF"] = str(storage)
    if "CONTAINERS_CONF" not in environment and config.is_file():
        environment["CONTAINERS_CONF"] = str(config)
    return environment


def image_size(image: str, environment: Mapping[str, str]) -> tuple[float | None, str]:
    """The image's size in MB (10^6 bytes, as `podman images` shows it), or None and the reason."""
    completed = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        env=dict(environment),
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        return None, f"not measured: image {image} not found ({completed.stderr.strip()[:200]})"
    return int(completed.stdout.strip()) / 1e6, "podman image inspect"


def run(context: BenchContext) -> dict[str, Any]:
    """Installed sizes of both dependency sets, and the image sizes when podman and the images exist (the run's
    context is not needed: nothing here starts a server or reads the dataset)."""
    roots = runtime_roots()
    runtime = closure(roots)
    tensorflow_path = closure(TF_PATH_ROOTS)
    images: dict[str, Any] = {}
    environment = container_environment()
    for role, image in (("runtime", RUNTIME_IMAGE), ("tensorflow", TF_IMAGE)):
        if environment is None:
            images[role] = {"image": image, "mb": None, "source": "not measured: podman is not installed"}
            continue
        size, source = image_size(image, environment)
        images[role] = {"image": image, "mb": size, "source": source}
    return {
        "runtime_roots": list(roots),
        "tensorflow_roots": list(TF_PATH_ROOTS),
        "runtime_set": set_size(runtime),
        "tensorflow_set": set_size(tensorflow_path),
        "images": images,
    }
