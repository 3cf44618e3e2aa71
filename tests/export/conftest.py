"""Fixtures for the export tests: an untrained seed model (no dataset needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

keras = pytest.importorskip("keras")


@pytest.fixture(scope="session")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.model import build_model

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("keras") / "tiny.keras"
    build_model().save(path)
    return path
