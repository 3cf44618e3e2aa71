"""Fixtures for the reliability tests: the service fixtures, plus an app running with the catalogue's limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from benchmarks.reliability.catalogue import Limits
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import make_settings  # noqa: F401 (a fixture, shared with the service tests)

LIMITS = Limits()


def limited_settings(model: Path, **overrides: object) -> Settings:
    """Settings serving ``model`` with the catalogue's limits."""
    values: dict[str, object] = {
        "model": str(model),
        "access_log": False,
        "max_batch_wait_ms": 0.0,
        "max_upload_bytes": LIMITS.max_upload_bytes,
        "max_image_pixels": LIMITS.max_image_pixels,
        "max_batch_images": LIMITS.max_batch_images,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def limited_client(tiny_model_path: Path) -> Iterator[TestClient]:
    """A started app with the catalogue's limits, shared by a module (unexpected errors become 500s)."""
    with TestClient(create_app(limited_settings(tiny_model_path)), raise_server_exceptions=False) as client:
        yield client
