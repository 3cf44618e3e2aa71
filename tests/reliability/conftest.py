"""Fixtures for the reliability tests: the service fixtures, plus an app running with the catalogue's limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from reliability.catalogue import Limits
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import make_settings  # noqa: F401 (a fixture, shared with the service tests)

LIMITS = Limits()


def limited_settings(model: Path) -> Settings:
    """Settings serving ``model`` with the catalogue's limits (its fields are named like the settings')."""
    return Settings(model=str(model), access_log=False, max_batch_wait_ms=0.0, **asdict(LIMITS))


@pytest.fixture(scope="module")
def limited_client(tiny_model_path: Path) -> Iterator[TestClient]:
    """A started app with the catalogue's limits, shared by a module (unexpected errors become 500s)."""
    with TestClient(create_app(limited_settings(tiny_model_path)), raise_server_exceptions=False) as client:
        yield client
