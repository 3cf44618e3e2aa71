"""Machine and software description stored with every result: CPU, cores, memory, load, versions, models."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from benchmarks.config import KERAS_MODEL, PROJECT_ROOT, available_cpus
from benchmarks.processes import proc_value
from service.settings import MODEL_FILES
from training.data import file_sha256, portable_source

LIBRARIES = ("onnxruntime", "numpy", "pillow", "starlette", "uvicorn", "fastapi", "tensorflow-cpu", "keras")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def describe_machine() -> dict[str, Any]:
    """Everything needed to judge whether two result files are comparable."""
    memory = proc_value("/proc/meminfo", "MemTotal")
    git = ["git", "rev-parse", "--short", "HEAD"]  # the checked-out commit, if there is one
    revision = subprocess.run(git, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    installed: dict[str, str] = {canonicalize_name(dist.metadata["Name"]): dist.version for dist in distributions()}
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": proc_value("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "logical_cores": os.cpu_count(),
        "usable_cpus": list(available_cpus()),
        "memory_total_mib": int(memory.split()[0]) / 1024 if memory else None,
        "load_average_at_start": load_average(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {name: installed[name] for name in LIBRARIES if name in installed},
        "git_revision": (revision.stdout.strip() or None) if revision.returncode == 0 else None,
    }


def file_digest(path: Path | None) -> str | None:
    """The sha256 of a file, or None if there is none."""
    return file_sha256(path) if path is not None and path.is_file() else None


def describe_models(models_dir: Path, keras_model: Path | None) -> dict[str, Any]:
    """Which model files were measured (with digests) and the export manifest if there is one."""
    manifest = models_dir / "manifest.json"
    return {
        **{f"onnx_{name}_sha256": file_digest(models_dir / file) for name, file in MODEL_FILES.items()},
        "keras_model": portable_source(keras_model.resolve()) if keras_model else None,
        "keras_sha256": file_digest(keras_model),
        "trained_keras_model": keras_model is not None
        and keras_model.resolve() == (models_dir / KERAS_MODEL.name).resolve(),
        "manifest": json.loads(manifest.read_text()) if manifest.is_file() else None,
    }
