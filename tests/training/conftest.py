"""Fixtures for the TensorFlow side: a tiny CIFAR-style dataset on disk (folder and archive)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.labels import CLASS_FOLDERS


def write_dataset(root: Path, train_per_class: int = 6, test_per_class: int = 2, seed: int = 0) -> Path:
    """Write train/<class>/*.jpg and test/<class>/*.jpg with a class-dependent colour so labels are learnable."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for index, name in enumerate(CLASS_FOLDERS):
            folder = root / split / name
            folder.mkdir(parents=True)
            for n in range(count):
                pixels = rng.integers(0, 40, (32, 32, 3)) + index * 20
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{n:04d}.jpg", quality=95)
    return root


@pytest.fixture
def dataset_folder(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "cifar")


@pytest.fixture
def dataset_archive(tmp_path: Path, dataset_folder: Path) -> Path:
    archive = tmp_path / "cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(dataset_folder / "train", arcname="train")
        tar.add(dataset_folder / "test", arcname="test")
    return archive
