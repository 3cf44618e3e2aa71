"""Import cost per package in a fresh interpreter (`python -X importtime`), to explain cold starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.config import PROJECT_ROOT

SERVICE_IMPORTS = (
    "numpy",
    "onnxruntime",
    "PIL.Image",
    "starlette.applications",
    "python_multipart",
    "prometheus_client",
    "uvicorn",
    "service.app",
)
TENSORFLOW_IMPORTS = ("numpy", "PIL.Image", "tensorflow", "keras", "fastapi", "uvicorn", "benchmarks.tf_service")


def parse_importtime(stderr: str) -> dict[str, float]:
    """Cumulative milliseconds per top-level package from `-X importtime` output (outermost imports only)."""
    per_root: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith("  "):  # nested: already counted in its parent's cumulative time
            continue
        root = name.strip().split(".")[0]
        per_root[root] = per_root.get(root, 0.0) + int(cumulative) / 1000
    return dict(per_root)


def measure_imports(modules: tuple[str, ...]) -> dict[str, Any]:
    """Wall-clock seconds to import `modules` in a new interpreter, and the ms each top-level package took."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import " + ", ".join(modules)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=300,
        check=False,
    )
    wall = time.monotonic() - started
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1:]}
    packages = parse_importtime(completed.stderr)
    roots = {module.split(".")[0] for module in modules}
    ranked = sorted(((name, ms) for name, ms in packages.items() if name in roots), key=lambda item: -item[1])
    return {"wall_seconds": wall, "packages_ms": dict(ranked)}
