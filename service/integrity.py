"""Checking the model file's sha256 before serving it: against a pinned digest and against manifest.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from service.errors import ModelLoadError

# The file export/manifest.py writes (the runtime cannot import export/, which is not in its image);
# tests/service/test_integrity.py checks both agree.
MANIFEST_NAME: Final = "manifest.json"


def verify_sha256(path: Path, sha256: str, *, expected: str | None, use_manifest: bool) -> None:
    """Raise ModelLoadError unless ``sha256`` (the digest of ``path``) matches what is expected of it.

    ``expected`` is a pinned digest (``CIFAR10_MODEL_SHA256``). With ``use_manifest``, a ``manifest.json``
    beside the model that lists the file must record the same digest, so a model swapped or damaged after
    the export is refused. A model without a manifest, or not listed in it, is served as it is.
    """
    if expected is not None and sha256 != expected:
        raise ModelLoadError(f"model {path} has sha256 {sha256}, expected {expected} (CIFAR10_MODEL_SHA256)")
    if not use_manifest:
        return
    listed = _manifest_sha256(path)
    if listed is not None and sha256 != listed:
        raise ModelLoadError(
            f"model {path} has sha256 {sha256} but {path.parent / MANIFEST_NAME} records {listed}; "
            "re-run the export, or set CIFAR10_VERIFY_MANIFEST=false to serve it anyway"
        )


def _manifest_sha256(path: Path) -> str | None:
    """The digest ``manifest.json`` beside ``path`` records for it, or None when there is no such entry."""
    manifest = path.parent / MANIFEST_NAME
    try:
        document = json.loads(manifest.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        raise ModelLoadError(f"cannot read {manifest}: {type(exc).__name__}: {exc}") from None
    artifacts = document.get("artifacts") if isinstance(document, dict) else None
    if not isinstance(artifacts, list):
        raise ModelLoadError(f"{manifest} has no 'artifacts' list")
    for entry in artifacts:
        if isinstance(entry, dict) and entry.get("path") == path.name:
            digest = entry.get("sha256")
            if not isinstance(digest, str):
                raise ModelLoadError(f"{manifest} lists {path.name} without a sha256")
            return digest.lower()
    return None
