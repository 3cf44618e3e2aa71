"""The loader: folders, archives (extracted once), the validation carve-out, bad layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data import (
    DEFAULT_ARCHIVE,
    PROJECT_ROOT,
    DatasetError,
    Split,
    carve_validation,
    load_dataset,
    portable_source,
    read_folder,
)


def test_folder_maps_class_names_to_cifar_indices(dataset_folder: Path) -> None:
    train, test = read_folder(dataset_folder)
    assert train.images.shape == (60, 32, 32, 3) and train.images.dtype == np.uint8
    assert test.images.shape == (20, 32, 32, 3)
    assert np.bincount(train.labels).tolist() == [6] * 10
    # the fixture paints class i around brightness 20*i: the mapping folder → index is visible in the pixels
    means = [train.images[train.labels == i].mean() for i in range(10)]
    assert means == sorted(means)


def test_partial_class_folders_keep_their_indices(tmp_path: Path) -> None:
    for split in ("train", "test"):
        (tmp_path / split / "truck").mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / split / "truck" / "a.png")
    train, _ = read_folder(tmp_path)
    assert train.labels.tolist() == [9]


def test_other_image_sizes_are_resized(tmp_path: Path) -> None:
    for split in ("train", "test"):
        (tmp_path / split / "cat").mkdir(parents=True)
        Image.new("L", (64, 48)).save(tmp_path / split / "cat" / "a.png")
    train, _ = read_folder(tmp_path)
    assert train.images.shape == (1, 32, 32, 3)


def test_archive_is_extracted_once_and_cached(dataset_archive: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_dataset(dataset_archive, validation_size=10, cache_dir=cache)
    cached = list(cache.glob("*.npz"))
    assert len(cached) == 1
    second = load_dataset(dataset_archive, validation_size=10, cache_dir=cache)
    np.testing.assert_array_equal(first.train.images, second.train.images)
    assert len(first.train) + len(first.validation) == 60 and len(first.test) == 20


def test_validation_is_stratified_disjoint_and_seeded() -> None:
    images = np.arange(200, dtype=np.uint8).repeat(32 * 32 * 3).reshape(200, 32, 32, 3)
    labels = np.repeat(np.arange(10), 20)
    train, validation = carve_validation(Split(images, labels), size=50, seed=3)
    assert np.bincount(validation.labels).tolist() == [5] * 10
    assert not set(train.images[:, 0, 0, 0]) & set(validation.images[:, 0, 0, 0])
    _, again = carve_validation(Split(images, labels), size=50, seed=3)
    np.testing.assert_array_equal(validation.images, again.images)


def test_bad_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing 'train/'"):
        load_dataset(tmp_path)
    (tmp_path / "train" / "unicorn").mkdir(parents=True)
    (tmp_path / "test").mkdir()
    with pytest.raises(DatasetError, match="unknown class folders"):
        read_folder(tmp_path)
    with pytest.raises(DatasetError, match="archive not found"):
        load_dataset(tmp_path / "missing.tar.gz")
    with pytest.raises(ValueError, match="validation size"):
        carve_validation(Split(np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int64)), size=4, seed=0)


def test_reports_name_the_shared_data_and_project_files_relative_to_the_project(tmp_path: Path) -> None:
    assert portable_source(DEFAULT_ARCHIVE) == "../shared/data/cifar10-jpeg.tar.gz"
    assert portable_source(PROJECT_ROOT / "models" / "x") == "models/x"
    assert portable_source(tmp_path / "mine") == str(tmp_path / "mine")  # a user's own folder stays as given


def test_a_linked_shared_folder_is_still_named_beside_the_project(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "disk" / "shared-data"
    project.mkdir()
    (elsewhere / "data").mkdir(parents=True)
    (tmp_path / "shared").symlink_to(elsewhere)
    archive = tmp_path / "shared" / "data" / "cifar10-jpeg.tar.gz"
    assert portable_source(archive, project) == "../shared/data/cifar10-jpeg.tar.gz"
