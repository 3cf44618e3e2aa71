"""Machine and software description stored with every result: CPU, cores, memory, load, versions, models."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmarks.config import KERAS_MODEL, PROJECT_ROOT, available_cpus, display_path
from benchmarks.processes import proc_value
from service.settings import MODEL_FILES
from training.data import file_sha256

VERSIONED_DISTRIBUTIONS = (
    "onnxruntime",
    "numpy",
    "pillow",
    "starlette",
    "uvicorn",
    "fastapi",
    "tensorflow-cpu",
    "keras",
)


def memory_total_mib() -> float | None:
    """Total RAM in MiB from /proc/meminfo."""
    total = proc_value("/proc/meminfo", "MemTotal")
    return int(total.split()[0]) / 1024 if total else None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def distribution_versions() -> dict[str, str]:
    """Installed versions of the libraries that matter for these figures."""
    versions: dict[str, str] = {}
    for name in VERSIONED_DISTRIBUTIONS:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def file_digest(path: Path) -> str | None:
    """The sha256 of a file, or None if it does not exist."""
    return file_sha256(path) if path.is_file() else None


def git_revision() -> str | None:
    """The checked-out commit, if the project is a git repository with commits."""
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def describe_machine() -> dict[str, Any]:
    """Everything needed to judge whether two result files are comparable."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": proc_value("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "logical_cores": os.cpu_count(),
        "usable_cpus": list(available_cpus()),
        "memory_total_mib": memory_total_mib(),
        "load_average_at_start": load_average(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": distribution_versions(),
        "git_revision": git_revision(),
    }


def describe_models(models_dir: Path, keras_model: Path | None) -> dict[str, Any]:
    """Which model files were measured (with digests) and the export manifest if there is one."""
    manifest_path = models_dir / "manifest.json"
    manifest: Any = None
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            manifest = "unreadable"
    return {
        **{f"onnx_{name}_sha256": file_digest(models_dir / file) for name, file in MODEL_FILES.items()},
        "keras_model": display_path(keras_model) if keras_model else None,
        "keras_sha256": file_digest(keras_model) if keras_model else None,
        "trained_keras_model": keras_model is not None
        and keras_model.resolve() == (models_dir / KERAS_MODEL.name).resolve(),
        "manifest": manifest,
    }
