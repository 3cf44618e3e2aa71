"""Build the TensorFlow-path comparison image (`cifar10-tf-path:bench`) with buildah, for the footprint figures.
Run `eval "$(../shared/tools/container-env.sh)"` first, then `python -m benchmarks.tf_image`."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.config import PROJECT_ROOT, find_keras_model
from benchmarks.footprint import TF_IMAGE

# The TensorFlow-path service and the modules it imports; nothing else of the project goes in.
APP_FILES = (
    "benchmarks/__init__.py",
    "benchmarks/config.py",
    "benchmarks/tf_service.py",
    "training/__init__.py",
    "training/labels.py",
)
BUILD = ["buildah", "bud", "--isolation", "chroot", "--pull=never", "--network", "host", "--format", "docker"]


def assemble_context(directory: Path, keras_model: Path) -> None:
    """Copy the Dockerfile, the service files and the Keras checkpoint into a fresh build context."""
    shutil.copy(PROJECT_ROOT / "benchmarks" / "tf_path.Dockerfile", directory / "Dockerfile")
    for relative in APP_FILES:
        (directory / "app" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / relative, directory / "app" / relative)
    (directory / "app" / "models").mkdir()
    shutil.copy(keras_model, directory / "app" / "models" / "best_model.keras")


def main(argv: Sequence[str] | None = None) -> int:
    """Assemble the context and run `buildah bud`; return buildah's exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tf_image", description=__doc__)
    parser.add_argument("--tag", default=TF_IMAGE)
    parser.add_argument("--keras-model", type=Path, default=None)
    args = parser.parse_args(argv)
    keras_model = find_keras_model(args.keras_model)
    if keras_model is None:
        parser.error("no Keras checkpoint found; pass --keras-model")
    if shutil.which("buildah") is None:
        print('buildah not installed: run `eval "$(../shared/tools/container-env.sh)"` first', file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="tf-image-") as context:
        assemble_context(Path(context), keras_model)
        return subprocess.run([*BUILD, "-t", args.tag, context], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
