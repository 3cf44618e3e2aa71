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
IMAGES = {"runtime": "cifar10-serving:test", "tensorflow": "cifar10-tf-path:bench"}
TF_IMAGE = IMAGES["tensorflow"]
CONTAINER_STATE = Path(os.environ.get("CONTAINER_STATE", "/var/tmp/container-env"))


def runtime_roots() -> tuple[str, ...]:
    """The `[project] dependencies` of the project, as requirement strings."""
    return tuple(tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def closure(roots: Iterable[str]) -> dict[str, Distribution]:
    """Every installed distribution the roots need (markers evaluated here, requested extras followed)."""
    found: dict[str, Distribution] = {}
    pending = [Requirement(root) for root in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        try:
            found[name] = distribution(requirement.name)
        except PackageNotFoundError:
            continue
        for child in map(Requirement, found[name].requires or []):
            extras = ("", *requirement.extras)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(child)
    return found


def installed_bytes(dist: Distribution) -> int:
    """Bytes on disk of every file the distribution's RECORD lists."""
    paths = (Path(str(dist.locate_file(file))) for file in dist.files or [])
    return sum(path.stat().st_size for path in paths if path.exists())


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


def image_size(image: str) -> dict[str, Any]:
    """The image's size in MB (as `podman images` shows it), or None and the reason; podman's configuration from
    ../shared/tools/container-env.sh's state."""
    if shutil.which("podman") is None:
        return {"image": image, "mb": None, "source": "not measured: podman is not installed"}
    environment = dict(os.environ)
    for variable, name in (("CONTAINERS_STORAGE_CONF", "storage.conf"), ("CONTAINERS_CONF", "containers.conf")):
        if variable not in environment and (CONTAINER_STATE / name).is_file():
            environment[variable] = str(CONTAINER_STATE / name)
    inspect = ["podman", "image", "inspect", "--format", "{{.Size}}", image]
    completed = subprocess.run(inspect, capture_output=True, text=True, env=environment, timeout=60, check=False)
    if completed.returncode != 0:
        reason = f"not measured: image {image} not found ({completed.stderr.strip()[:200]})"
        return {"image": image, "mb": None, "source": reason}
    return {"image": image, "mb": int(completed.stdout.strip()) / 1e6, "source": "podman image inspect"}


def run(context: BenchContext) -> dict[str, Any]:
    """Installed sizes of both dependency sets, and the image sizes when podman and the images exist."""
    roots = runtime_roots()
    return {
        "runtime_roots": list(roots),
        "tensorflow_roots": list(TF_PATH_ROOTS),
        "runtime_set": set_size(closure(roots)),
        "tensorflow_set": set_size(closure(TF_PATH_ROOTS)),
        "images": {role: image_size(image) for role, image in IMAGES.items()},
    }
