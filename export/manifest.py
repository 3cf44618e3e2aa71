"""`models/manifest.json`: every artifact in the models folder with its sha256 and size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.data import file_sha256

MANIFEST_NAME = "manifest.json"


def build_manifest(models_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """List every file in `models_dir` (except the manifest itself), plus the export's headline figures."""
    artifacts = [
        {"path": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}
        for path in sorted(models_dir.iterdir())
        if path.is_file() and path.name != MANIFEST_NAME and not path.name.startswith(".")
    ]
    return {"generated_by": "python -m export", "artifacts": artifacts, **summary}


def write_manifest(models_dir: Path, summary: dict[str, Any]) -> Path:
    """Write the manifest next to the artifacts and return its path."""
    path = models_dir / MANIFEST_NAME
    path.write_text(json.dumps(build_manifest(models_dir, summary), indent=2) + "\n")
    return path
