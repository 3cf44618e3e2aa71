"""Faults: a missing or corrupt model at start-up (one clear line, non-zero exit, never ready) and a failing
inference (a generic 500 for the requests it touched; the server keeps serving everyone else)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from reliability.catalogue import sample_jpeg
from reliability.faults import broken_models, start_with_models
from service.__main__ import EXIT_MODEL_ERROR
from service.app import create_app
from service.errors import ModelLoadError
from service.runtime import OnnxModel
from service.settings import Settings
from tests.conftest import build_tiny_model
from tests.reliability.leaks import leaks_in
from tests.reliability.models import build_model_failing_at_run, build_model_without_labels
from tests.service.conftest import SettingsFactory
from tests.service.images import png

POISON_VALUE = 13
SECRET_DETAIL = "device lost at /opt/secret/kernels.py:42 (handle 0x7f3a9c001234)"


class PoisonSensitiveModel(OnnxModel):
    """The tiny model, except that a batch holding an all-13 image makes the run raise (an unexpected failure)."""

    runs = 0

    def predict(self, batch: np.ndarray) -> np.ndarray:
        type(self).runs += 1
        if bool((batch.reshape(len(batch), -1) == POISON_VALUE).all(axis=1).any()):
            raise RuntimeError(SECRET_DETAIL)
        return super().predict(batch)


POISON = png((POISON_VALUE, POISON_VALUE, POISON_VALUE))
GOOD = sample_jpeg()


# --- start-up ------------------------------------------------------------------------------------------------


def test_broken_models_stop_the_start_with_one_line_and_readiness_never_green(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    models = broken_models(tmp_path / "broken", tiny_model_path)
    models["float-input-contract"] = build_tiny_model(tmp_path / "float.onnx", input_type="float")
    models["no-labels-metadata"] = build_model_without_labels(tmp_path / "nolabels.onnx")
    models["fails-at-run"] = build_model_failing_at_run(tmp_path / "fails.onnx")
    results = start_with_models(models, tmp_path / "logs")
    assert [result["name"] for result in results] == list(models)
    for result in results:
        assert result["exit_code"] == EXIT_MODEL_ERROR, result
        assert result["one_clear_line"], result["stderr_lines"]
        assert models[result["name"]].name in result["stderr_lines"][0]
        assert "Traceback" not in result["stderr_lines"][0]
        assert result["ready_probes"] >= 1 and not result["ready_ever_200"]
        assert result["survived"]
        assert result["seconds"] < 30


def test_a_failing_loader_stops_the_lifespan_and_readiness_stays_red(make_settings: SettingsFactory) -> None:
    def failing_loader(settings: Settings) -> OnnxModel:
        raise ModelLoadError("cannot load model /models/x.onnx: disk on fire")

    app = create_app(make_settings(), failing_loader)
    with pytest.raises(ModelLoadError), TestClient(app):
        pass
    assert app.state.service.ready is False
    assert TestClient(app).get("/ready").status_code == 503  # without the lifespan: never ready


# --- a failing inference -------------------------------------------------------------------------------------


def flaky_client(settings: Settings) -> TestClient:
    """A started app whose model fails on poisoned batches (injected through the model loader hook)."""

    class Model(PoisonSensitiveModel):
        runs = 0

    return TestClient(create_app(settings, lambda s: Model.load(s.model_path)), raise_server_exceptions=False)


def assert_generic_500(response_json: object) -> None:
    assert isinstance(response_json, dict)
    assert response_json["code"] == "inference_failed"
    assert set(response_json) == {"error", "code"}
    assert "secret" not in response_json["error"] and "0x7f" not in response_json["error"]
    assert leaks_in(str(response_json)) == []


@pytest.mark.parametrize("batching", [False, True], ids=["direct", "batching"])
def test_a_failing_inference_is_a_generic_500_and_the_server_keeps_serving(
    make_settings: SettingsFactory, batching: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(batching=batching, max_batch_wait_ms=5.0 if batching else 0.0)
    bodies = [POISON if index % 4 == 0 else GOOD for index in range(40)]
    with flaky_client(settings) as client, ThreadPoolExecutor(8) as pool:

        def post(body: bytes) -> tuple[bytes, int, object]:
            response = client.post("/predict", content=body, headers={"content-type": "image/png"})
            return body, response.status_code, response.json()

        outcomes = list(pool.map(post, bodies))
        for body, status, document in outcomes:
            if body is POISON:
                assert status == 500
                assert_generic_500(document)
            elif status == 500:
                assert batching, "without batching only the poisoned request may fail"
                assert_generic_500(document)  # it shared a batch with a poisoned image
            else:
                assert status == 200
                assert isinstance(document, dict) and document["label"] in document["probabilities"]
        if not batching:
            assert sum(status == 200 for _, status, _ in outcomes) == 30
        # The server is still up and correct for everyone afterwards.
        for _ in range(5):
            assert client.post("/predict", content=GOOD, headers={"content-type": "image/jpeg"}).status_code == 200
        assert client.get("/ready").status_code == 200
        failed = sum(status == 500 for _, status, _ in outcomes)
        assert f'route="/predict",status="500"}} {failed}.0' in client.get("/metrics").text
    # The real error is logged for the operator (with its traceback), never sent to the client.
    failures = [record for record in caplog.records if record.getMessage().startswith("inference failed")]
    assert failures and failures[0].exc_info is not None
    assert SECRET_DETAIL in str(failures[0].exc_info[1])


def test_a_failing_batch_fails_only_its_own_waiters(make_settings: SettingsFactory) -> None:
    """Requests queued behind a failing batch still get correct answers."""
    settings = make_settings(batching=True, max_batch_size=1, max_batch_wait_ms=0.0)
    barrier = threading.Barrier(6)
    with flaky_client(settings) as client, ThreadPoolExecutor(6) as pool:

        def post(body: bytes) -> int:
            barrier.wait()
            return client.post("/predict", content=body, headers={"content-type": "image/png"}).status_code

        statuses = list(pool.map(post, [POISON, GOOD, GOOD, POISON, GOOD, GOOD]))
    assert statuses == [500, 200, 200, 500, 200, 200]
