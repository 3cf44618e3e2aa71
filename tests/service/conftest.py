"""Fixtures for the service tests: settings pointing at the tiny model, and a running app's test client."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.logs import JsonFormatter
from service.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMMITTED_FP32 = PROJECT_ROOT / "models" / "cifar10_cnn.onnx"

SettingsFactory = Callable[..., Settings]
LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def make_settings(tiny_model_path: Path) -> SettingsFactory:
    """Build settings serving the tiny model; keyword arguments override fields."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"model": str(tiny_model_path), "access_log": False, "max_batch_wait_ms": 0.0}
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def client(make_settings: SettingsFactory) -> Iterator[TestClient]:
    """A test client on a started app (lifespan run: model loaded, warmed up, batcher running)."""
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture
def json_log() -> Iterator[LogLines]:
    """Every log line written while the test runs, as the service writes it (JSON, formatted when emitted)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
