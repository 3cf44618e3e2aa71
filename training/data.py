"""Load CIFAR-10 as uint8 arrays from a folder, a .tar.gz archive or `keras.datasets.cifar10`."""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training.labels import CLASS_FOLDERS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cifar10-serving"
IMAGE_SHAPE = (32, 32, 3)
KERAS_SOURCE = "keras"


@dataclass(frozen=True)
class Split:
    """Images (N, 32, 32, 3) uint8 RGB and labels (N,) int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    """The official train/test split, plus a validation split carved from train."""

    train: Split
    validation: Split
    test: Split
    source: str


class DatasetError(ValueError):
    """The data source is missing or does not have the expected layout."""


def read_folder_split(root: Path) -> Split:
    """Read `root/<class>/*` images; folder names map to CIFAR-10 indices."""
    present = sorted(p.name for p in root.iterdir() if p.is_dir())
    unknown = set(present) - set(CLASS_FOLDERS)
    if unknown:
        raise DatasetError(f"{root}: unknown class folders {sorted(unknown)}; expected names from {CLASS_FOLDERS}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index, name in enumerate(CLASS_FOLDERS):
        folder = root / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            with Image.open(path) as image:
                rgb = image.convert("RGB")
                if rgb.size != IMAGE_SHAPE[:2]:
                    rgb = rgb.resize(IMAGE_SHAPE[:2], Image.Resampling.BILINEAR)
                images.append(np.asarray(rgb, dtype=np.uint8))
            labels.append(index)
    if not images:
        raise DatasetError(f"{root}: no images found in class folders")
    return Split(np.stack(images), np.asarray(labels, dtype=np.int64))


def read_folder(root: Path) -> tuple[Split, Split]:
    """Read a dataset folder laid out as `train/<class>/*.jpg` and `test/<class>/*.jpg`."""
    for part in ("train", "test"):
        if not (root / part).is_dir():
            raise DatasetError(
                f"{root}: missing '{part}/' folder (expected train/<class>/*.jpg and test/<class>/*.jpg)"
            )
    return read_folder_split(root / "train"), read_folder_split(root / "test")


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_members(tar: tarfile.TarFile, destination: Path) -> list[tarfile.TarInfo]:
    """Regular files and folders that stay inside `destination` (for Pythons without tarfile filters)."""
    root = destination.resolve()
    members = []
    for member in tar.getmembers():
        target = (destination / member.name).resolve()
        if (member.isfile() or member.isdir()) and target.is_relative_to(root):
            members.append(member)
    return members


def read_archive(archive: Path, cache_dir: Path = DEFAULT_CACHE) -> tuple[Split, Split]:
    """Extract the archive once into `cache_dir` (keyed by its sha256) and read it, caching arrays as .npz."""
    if not archive.is_file():
        raise DatasetError(f"archive not found: {archive}")
    key = file_sha256(archive)[:16]
    arrays = cache_dir / f"{key}.npz"
    if arrays.is_file():
        with np.load(arrays) as data:
            return (
                Split(data["train_images"], data["train_labels"]),
                Split(data["test_images"], data["test_labels"]),
            )
    extracted = cache_dir / key
    if not (extracted / ".complete").is_file():
        extracted.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (Debian bookworm ships 3.11.2)
                tar.extractall(extracted, filter="data")
            else:
                tar.extractall(extracted, members=_safe_members(tar, extracted))
        (extracted / ".complete").touch()
    roots = [extracted] + [p for p in extracted.iterdir() if p.is_dir()]
    root = next((r for r in roots if (r / "train").is_dir() and (r / "test").is_dir()), None)
    if root is None:
        raise DatasetError(f"{archive}: no train/ and test/ folders inside")
    train, test = read_folder(root)
    tmp = arrays.with_suffix(".tmp.npz")
    np.savez(
        tmp, train_images=train.images, train_labels=train.labels, test_images=test.images, test_labels=test.labels
    )
    tmp.replace(arrays)
    return train, test


def read_keras() -> tuple[Split, Split]:
    """Download (or reuse Keras's cache of) the original CIFAR-10 binary batches."""
    from keras.datasets import cifar10

    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    return (
        Split(x_train.astype(np.uint8), y_train.reshape(-1).astype(np.int64)),
        Split(x_test.astype(np.uint8), y_test.reshape(-1).astype(np.int64)),
    )


def carve_validation(train: Split, size: int, seed: int) -> tuple[Split, Split]:
    """Split off a class-stratified validation set of `size` images from the training split."""
    if not 0 < size < len(train):
        raise ValueError(f"validation size must be between 1 and {len(train) - 1}, got {size}")
    rng = np.random.default_rng(seed)
    classes = np.unique(train.labels)
    per_class = size // len(classes)
    held: list[np.ndarray] = []
    for label in classes:
        members = np.flatnonzero(train.labels == label)
        held.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    held_index = np.sort(np.concatenate(held))
    mask = np.ones(len(train), dtype=bool)
    mask[held_index] = False
    return (
        Split(train.images[mask], train.labels[mask]),
        Split(train.images[held_index], train.labels[held_index]),
    )


def load_dataset(
    source: str | Path | None = None,
    validation_size: int = 5000,
    seed: int = 0,
    cache_dir: Path = DEFAULT_CACHE,
) -> Dataset:
    """Load from a folder, a .tar.gz archive, or `keras.datasets.cifar10` when `source` is None or "keras"."""
    path = Path(source) if source is not None and str(source) != KERAS_SOURCE else None
    if path is None:
        train, test = read_keras()
    elif path.is_dir():
        train, test = read_folder(path)
    elif path.name.endswith((".tar.gz", ".tgz", ".tar")):
        train, test = read_archive(path, cache_dir)
    else:
        raise DatasetError(f"data source must be a folder or a .tar.gz archive, got {path}")
    fit, validation = carve_validation(train, validation_size, seed)
    return Dataset(fit, validation, test, portable_source(path) if path else KERAS_SOURCE)


def portable_source(path: Path, project_root: Path = PROJECT_ROOT) -> str:
    """``path`` as reports record it: relative to the project when it is in it or in the shared folder beside
    it (a committed report names no folder of the machine that wrote it), else as given."""
    resolved = path.resolve()
    # Each base resolved on its own: the shared folder may be a link to somewhere else entirely.
    for base, shown in ((project_root, Path()), (project_root.parent / "shared", Path("..", "shared"))):
        if resolved.is_relative_to(base.resolve()):
            return str(shown / resolved.relative_to(base.resolve()))
    return str(path)


def default_source() -> str:
    """The shared JPEG archive when it is next to the project, else Keras's own download."""
    return str(DEFAULT_ARCHIVE) if DEFAULT_ARCHIVE.is_file() else KERAS_SOURCE
