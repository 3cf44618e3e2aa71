"""Schemathesis against the service's own ``/openapi.json``: generated requests never get a 500, and every answer
matches the documented status codes, content types and schemas."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi

from service.app import create_app
from service.settings import Settings
from tests.conftest import build_tiny_model

pytestmark = pytest.mark.slow


def _tiny_model() -> Path:
    # Built when the module is collected (schemathesis needs the schema to parametrize the tests), in a private
    # temporary directory; the app's lifespan (load, warm-up, batcher) starts with schemathesis's first request.
    directory = Path(tempfile.mkdtemp(prefix="openapi-fuzz-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)  # collection-time, so no pytest tmp_path
    return build_tiny_model(directory / "tiny.onnx")


MODEL = _tiny_model()
MODEL_VERSION = hashlib.sha256(MODEL.read_bytes()).hexdigest()[:12]
APP = create_app(Settings(model=str(MODEL), access_log=False, max_batch_wait_ms=0.0, max_upload_bytes=256 * 1024))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.hook
def map_path_parameters(context: object, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    """Address the served model and version, so the V2 endpoints get past the 404 (unknown models are covered by
    the hostile-input catalogue)."""
    if not path_parameters:
        return path_parameters
    if "model_name" in path_parameters:
        path_parameters["model_name"] = "cifar10-cnn"
    if "model_version" in path_parameters:
        path_parameters["model_version"] = MODEL_VERSION
    return path_parameters


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", autouse=True)
def _stop_the_app() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()  # drain the batcher and stop the worker thread the lifespan started


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_conform_to_the_schema(case: schemathesis.Case[Any]) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
    case.validate_response(response, checks=CHECKS)
