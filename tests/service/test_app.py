"""The app through Starlette's test client: every endpoint, every error status, request ids, metrics, page."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from service import pipeline
from service.app import FALLBACK_PAGE, INDEX_PATH, create_app, read_index_page
from service.runtime import OnnxModel
from service.settings import Settings
from tests.conftest import LABELS
from tests.service.conftest import LogLines, SettingsFactory
from tests.service.images import encode, jpeg, png

RED_JPEG = jpeg((255, 0, 0))
JPEG = {"content-type": "image/jpeg"}
GREY_PNG = png((128, 128, 128))


class ControllableModel(OnnxModel):
    """The tiny model, with switches to block or fail inference after warm-up."""

    gate = threading.Event()
    fail = False
    entered = threading.Event()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.entered.set()
        if not self.gate.wait(5):
            raise TimeoutError("gate never opened")
        if self.fail:
            raise RuntimeError("simulated failure")
        return super().predict(batch)


class WrongLabelsModel(OnnxModel):
    """Claims one label but outputs ten: a bug the app cannot expect."""

    @property
    def labels(self) -> tuple[str, ...]:
        return ("only",)


@pytest.fixture
def controllable(tiny_model_path: Path) -> Iterator[type[ControllableModel]]:
    class Model(ControllableModel):
        gate = threading.Event()
        entered = threading.Event()

    Model.gate.set()
    yield Model
    Model.gate.set()


def app_client(
    settings: Settings, model: type[OnnxModel] | None = None, raise_server_exceptions: bool = True
) -> TestClient:
    if model is None:
        return TestClient(create_app(settings), raise_server_exceptions=raise_server_exceptions)
    app = create_app(settings, lambda s: model.load(s.model_path))
    return TestClient(app, raise_server_exceptions=raise_server_exceptions)


# --- the page -------------------------------------------------------------------------------------------------


def test_page_is_html_with_a_content_security_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    expected = INDEX_PATH.read_bytes() if INDEX_PATH.exists() else FALLBACK_PAGE
    assert response.content == expected


def test_page_files_and_docs_are_served_under_a_policy_with_nothing_inline(client: TestClient) -> None:
    for path in ("/", "/docs"):
        policy = client.get(path).headers["content-security-policy"]
        assert "'unsafe-inline'" not in policy and "script-src 'self';" in policy and "style-src 'self';" in policy
    assert client.get("/static/page.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/page.css").headers["content-type"].startswith("text/css")
    bundle = client.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000  # from the installed package
    assert client.get("/docs/docs.js").status_code == 200
    for path in ("/static/index.html", "/static/../settings.py", "/docs/swagger-editor-bundle.js"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
    page = client.get("/").text
    assert "<script>" not in page and "<style>" not in page and 'href="docs"' in page


def test_a_trailing_slash_is_a_json_404_not_an_empty_redirect(client: TestClient) -> None:
    response = client.post("/predict/", content=RED_JPEG, headers=JPEG, follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_missing_page_falls_back_to_a_placeholder(tmp_path: Path) -> None:
    assert read_index_page(tmp_path / "nope.html") == FALLBACK_PAGE
    page = tmp_path / "page.html"
    page.write_bytes(b"<p>hi</p>")
    assert read_index_page(page) == b"<p>hi</p>"


# --- health, readiness, model ---------------------------------------------------------------------------------


def test_health_ready_and_model(client: TestClient, tiny_model_path: Path) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    info = client.get("/model").json()
    assert info["name"] == "cifar10-cnn"
    assert info["labels"] == list(LABELS)
    assert info["file"] == tiny_model_path.name
    assert str(tiny_model_path.parent) not in client.get("/model").text  # no internal path in the answer
    assert info["version"] == info["sha256"][:12]
    assert info["precision"] == "fp32"
    assert info["threads"] == {"intra_op": 1, "inter_op": 1}
    assert info["batching"]["enabled"] is True
    assert info["input"]["shape"] == [-1, 32, 32, 3]
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["onnxruntime_version"])


def test_the_batcher_counts_the_servers_open_connections(client: TestClient) -> None:
    # The server's protocol counts connections (service.server); the batcher waits for more requests only while
    # more clients are connected than have a request in the batch. TestClient has no such count: 0, not counted.
    state = client.app.state.service  # type: ignore[attr-defined]
    batcher = state.batcher
    state.connections.open = 3
    assert batcher._more_may_come(2) and not batcher._more_may_come(3)
    state.connections.open = 0
    assert batcher._more_may_come(3)


@pytest.mark.parametrize(("where", "wait_ms"), [("never", 2.0), ("always", 0.0)])
def test_model_and_v2_config_report_the_batch_wait_as_it_runs(
    make_settings: SettingsFactory, where: str, wait_ms: float
) -> None:
    # The default wait is "auto": 2 ms where batches run on the event loop, none in the inference thread.
    settings = make_settings(max_batch_wait_ms="auto", inference_thread=where)
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/model").json()["batching"]["max_batch_wait_ms"] == wait_ms
        config = test_client.get("/v2/models/cifar10-cnn/config").json()
        assert config["dynamic_batching"]["max_queue_delay_microseconds"] == round(wait_ms * 1000)


def test_not_ready_before_the_lifespan_ran(make_settings: SettingsFactory) -> None:
    client = TestClient(create_app(make_settings()))  # not entered: no lifespan, no model
    assert client.get("/health").status_code == 200
    assert client.get("/v2/health/live").status_code == 200
    for path in ("/ready", "/v2/health/ready", "/model", "/v2/models/cifar10-cnn"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.json()["code"] == "not_ready"
    response = client.post("/predict", content=RED_JPEG, headers={"content-type": "image/jpeg"})
    assert response.status_code == 503


def test_not_ready_after_shutdown(make_settings: SettingsFactory) -> None:
    app_under_test = create_app(make_settings())
    with TestClient(app_under_test) as client:
        assert client.get("/ready").status_code == 200
    assert app_under_test.state.service.ready is False
    assert TestClient(app_under_test).get("/ready").status_code == 503


def test_model_load_failure_stops_startup(make_settings: SettingsFactory, tmp_path: Path) -> None:
    from service.errors import ModelLoadError

    with pytest.raises(ModelLoadError), TestClient(create_app(make_settings(model=str(tmp_path / "x.onnx")))):
        pass


# --- /predict -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "application/octet-stream"])
def test_predict_raw_body(client: TestClient, content_type: str) -> None:
    response = client.post("/predict", content=RED_JPEG, headers={"content-type": content_type})
    assert response.status_code == 200
    body = response.json()
    assert (body["label"], body["index"], body["band"], body["accepted"]) == ("Aeroplane", 0, "high", True)
    assert body["prediction"] == "Aeroplane"
    assert body["confidence"] == pytest.approx(body["probabilities"]["Aeroplane"])
    assert body["confidence"] > 0.99
    assert list(body["probabilities"]) == list(LABELS)
    assert "top_k" not in body


def test_predict_multipart_file_field(client: TestClient) -> None:
    response = client.post("/predict", files={"file": ("cat.png", GREY_PNG, "image/png")})
    assert response.status_code == 200
    body = response.json()
    # Mid-grey: classes 0-2 share the probability, so confidence is about 1/3 and the band is low.
    assert body["confidence"] == pytest.approx(1 / 3, abs=0.01)
    assert body["band"] == "low"


def test_predict_top_k(client: TestClient) -> None:
    body = client.post("/predict?top_k=3", content=GREY_PNG, headers={"content-type": "image/png"}).json()
    assert [entry["index"] for entry in body["top_k"]] == [0, 1, 2]
    assert {entry["label"] for entry in body["top_k"]} == {"Aeroplane", "Automobile", "Bird"}


@pytest.mark.parametrize("top_k", ["0", "11", "-1", "three", ""])
def test_predict_bad_top_k_is_422(client: TestClient, top_k: str) -> None:
    response = client.post(f"/predict?top_k={top_k}", content=RED_JPEG, headers={"content-type": "image/jpeg"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_parameter"
    assert "top_k" in response.json()["error"]


def test_rejection_below_threshold(make_settings: SettingsFactory) -> None:
    with app_client(make_settings(reject_below=0.5)) as client:
        body = client.post("/predict", content=GREY_PNG, headers={"content-type": "image/png"}).json()
        assert (body["accepted"], body["prediction"], body["label"]) == (False, "unknown", "Aeroplane")
        body = client.post("/predict", content=RED_JPEG, headers={"content-type": "image/jpeg"}).json()
        assert (body["accepted"], body["prediction"]) == (True, "Aeroplane")


def test_large_photo_is_decoded_off_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: dict[str, int] = {}
    real_admit, real_decode = pipeline.admit_image, pipeline.decode

    def admit(*arguments: Any, **options: Any) -> Any:
        threads["admission"] = threading.get_ident()  # admission runs on the event loop's thread
        return real_admit(*arguments, **options)

    def decode(*arguments: Any, **options: Any) -> Any:
        threads["decode"] = threading.get_ident()
        return real_decode(*arguments, **options)

    monkeypatch.setattr(pipeline, "admit_image", admit)
    monkeypatch.setattr(pipeline, "decode", decode)
    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    noise[:, :, 1:] = 0  # a noisy but red photo
    response = client.post("/predict", content=encode(Image.fromarray(noise), "JPEG"), headers=JPEG)
    assert response.status_code == 200
    assert response.json()["label"] == "Aeroplane"
    assert threads["decode"] != threads["admission"]
    # A CIFAR-sized image costs less to decode than a thread hop: it stays on the loop.
    assert client.post("/predict", content=RED_JPEG, headers=JPEG).status_code == 200
    assert threads["decode"] == threads["admission"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"not an image", "headers": {"content-type": "image/jpeg"}}, 400, "invalid_image"),
        ({"content": b"", "headers": {"content-type": "image/jpeg"}}, 400, "invalid_image"),
        ({"files": {"other": ("a.png", GREY_PNG, "image/png")}}, 400, "invalid_request"),
        ({"data": {"file": "just text"}, "files": {"x": ("a", b"", "text/plain")}}, 400, "invalid_request"),
        ({"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}}, 400, "invalid_request"),
        ({"content": RED_JPEG, "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"content": RED_JPEG}, 415, "unsupported_media_type"),
        ({"json": {"image": "base64?"}}, 415, "unsupported_media_type"),
    ],
)
def test_predict_client_errors(client: TestClient, kwargs: dict[str, object], status: int, code: str) -> None:
    response = client.post("/predict", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["error"]


def test_upload_limit_from_content_length(make_settings: SettingsFactory) -> None:
    with app_client(make_settings(max_upload_bytes=1000)) as client:
        response = client.post("/predict", content=b"x" * 1001, headers={"content-type": "image/jpeg"})
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        big_part = {"file": ("a.jpg", b"x" * 2000, "image/jpeg")}
        assert client.post("/predict", files=big_part).status_code == 413


def test_upload_limit_while_streaming_without_content_length(make_settings: SettingsFactory) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(1000):
            yield b"x" * 1024

    with app_client(make_settings(max_upload_bytes=4096)) as client:
        response = client.post("/predict", content=chunks(), headers={"content-type": "image/jpeg"})
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"


def test_every_413_names_the_setting_that_raises_it(make_settings: SettingsFactory) -> None:
    settings = make_settings(max_upload_bytes=1000, max_batch_upload_bytes=4000, max_image_pixels=4096)
    with app_client(settings) as client:
        raw = client.post("/predict", content=b"x" * 1001, headers=JPEG).json()
        assert "CIFAR10_MAX_UPLOAD_BYTES" in raw["error"]
        pixels = client.post("/predict", content=png(size=(100, 100)), headers={"content-type": "image/png"}).json()
        assert "CIFAR10_MAX_IMAGE_PIXELS" in pixels["error"]
        # A batch has its own, larger body limit: three photos that one /predict could not take together.
        photos = [("files", (f"{i}.bin", b"x" * 900, "image/jpeg")) for i in range(3)]
        assert client.post("/predict/batch", files=photos).status_code == 200
        too_big = client.post("/predict/batch", files=photos * 2)
        assert too_big.status_code == 413 and "CIFAR10_MAX_BATCH_UPLOAD_BYTES" in too_big.json()["error"]


def test_bodies_share_one_memory_budget(make_settings: SettingsFactory) -> None:
    # A body is held twice (its chunks, then the joined copy); the budget is at least four bodies, so it is
    # other requests in flight, here a reservation standing for them, that leave no room for this one.
    limits = {"max_upload_bytes": 2048, "max_batch_upload_bytes": 2048, "max_body_memory_bytes": 8192}
    with app_client(make_settings(**limits)) as client:
        budget = client.app.state.service.body_budget  # type: ignore[attr-defined]
        with budget.reservation() as others:
            others.take(8192 - 2 * 1000)
            response = client.post("/predict", content=b"x" * 1001, headers=JPEG)
            assert response.status_code == 503
            assert response.json()["code"] == "overloaded"
            assert "CIFAR10_MAX_BODY_MEMORY_BYTES" in response.json()["error"]
            assert response.headers["retry-after"] == "1"
            assert budget.held == 8192 - 2 * 1000  # the refused request gave back what it had taken
        for _ in range(3):  # each request gives its share back, whatever its outcome
            assert client.post("/predict", content=RED_JPEG, headers=JPEG).status_code == 200
        assert budget.held == 0


def test_decode_budget_and_scan_limit_are_413(make_settings: SettingsFactory) -> None:
    with app_client(make_settings(max_decode_bytes=8 * 2**20)) as client:
        wide = client.post("/predict", content=png(size=(2000, 1000)), headers={"content-type": "image/png"})
        assert wide.status_code == 413 and "CIFAR10_MAX_DECODE_BYTES" in wide.json()["error"]
        assert client.post("/predict", content=png(size=(800, 600)), headers={"content-type": "image/png"}).is_success


def test_a_request_over_its_deadline_is_504(
    make_settings: SettingsFactory, controllable: type[ControllableModel]
) -> None:
    with app_client(make_settings(request_timeout_s=0.2), controllable) as client:
        controllable.gate.clear()
        response = client.post("/predict", content=RED_JPEG, headers=JPEG)
        controllable.gate.set()
        assert response.status_code == 504
        assert response.json()["code"] == "timeout"
        assert "CIFAR10_REQUEST_TIMEOUT_S" in response.json()["error"]
        assert client.post("/predict", content=RED_JPEG, headers=JPEG).status_code == 200


def test_two_files_on_predict_point_to_the_batch_endpoint(client: TestClient) -> None:
    files = [("file", ("a.png", GREY_PNG, "image/png")), ("file", ("b.png", GREY_PNG, "image/png"))]
    response = client.post("/predict", files=files)
    assert response.status_code == 400
    assert "/predict/batch" in response.json()["error"]


def test_pixel_limit_is_413(make_settings: SettingsFactory) -> None:
    with app_client(make_settings(max_image_pixels=4096)) as client:
        response = client.post("/predict", content=png(size=(100, 100)), headers={"content-type": "image/png"})
        assert response.status_code == 413
        assert response.json()["code"] == "image_too_large"


# --- /predict/batch -------------------------------------------------------------------------------------------


def test_batch_answers_in_order_and_isolates_bad_files(client: TestClient) -> None:
    files = [
        ("files", ("red.jpg", RED_JPEG, "image/jpeg")),
        ("files", ("broken.jpg", b"garbage", "image/jpeg")),
        ("files", ("grey.png", GREY_PNG, "image/png")),
    ]
    response = client.post("/predict/batch?top_k=2", files=files)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [result["filename"] for result in results] == ["red.jpg", "broken.jpg", "grey.png"]
    assert results[0]["label"] == "Aeroplane"
    assert results[0]["band"] == "high"
    assert len(results[0]["top_k"]) == 2
    assert results[1]["status"] == 400
    assert results[1]["code"] == "invalid_image"
    assert "error" in results[1]
    assert results[2]["band"] == "low"


def test_batch_accepts_repeated_file_fields(client: TestClient) -> None:
    files = [("file", ("a.png", GREY_PNG, "image/png")), ("file", ("b.jpg", RED_JPEG, "image/jpeg"))]
    results = client.post("/predict/batch", files=files).json()["results"]
    assert [result["filename"] for result in results] == ["a.png", "b.jpg"]


def test_batch_per_file_pixel_limit(make_settings: SettingsFactory) -> None:
    with app_client(make_settings(max_image_pixels=4096)) as client:
        files = [
            ("files", ("big.png", png(size=(100, 100)), "image/png")),
            ("files", ("ok.png", GREY_PNG, "image/png")),
        ]
        results = client.post("/predict/batch", files=files).json()["results"]
        assert results[0]["status"] == 413
        assert results[1]["band"] == "low"


def test_batch_errors(make_settings: SettingsFactory) -> None:
    with app_client(make_settings(max_batch_images=2)) as client:
        three = [("files", (f"{i}.png", GREY_PNG, "image/png")) for i in range(3)]
        response = client.post("/predict/batch", files=three)
        assert response.status_code == 413
        assert "limit is 2" in response.json()["error"]
        response = client.post("/predict/batch", content=RED_JPEG, headers={"content-type": "image/jpeg"})
        assert response.status_code == 415
        response = client.post("/predict/batch", files={"other": ("a.png", GREY_PNG, "image/png")})
        assert response.status_code == 400
        response = client.post("/predict/batch?top_k=x", files=three[:1])
        assert response.status_code == 422


# --- routing errors, overload, failures -----------------------------------------------------------------------


def test_unknown_path_is_404_json(client: TestClient) -> None:
    response = client.get("/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "code": "not_found"}


def test_wrong_method_is_405_json(client: TestClient) -> None:
    response = client.get("/predict")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    assert client.delete("/health").status_code == 405


def test_full_queue_is_503(make_settings: SettingsFactory, controllable: type[ControllableModel]) -> None:
    settings = make_settings(max_queue=1, max_batch_size=1)
    with app_client(settings, controllable) as client, ThreadPoolExecutor(3) as pool:
        controllable.gate.clear()
        controllable.entered.clear()

        def send() -> int:
            response = client.post("/predict", content=RED_JPEG, headers={"content-type": "image/jpeg"})
            return response.status_code

        running = pool.submit(send)
        assert controllable.entered.wait(5)  # request 1 holds the model
        queued = pool.submit(send)  # request 2 waits in the queue (its only slot)
        for _ in range(200):
            if client.app.state.service.batcher.queue_depth == 1:  # type: ignore[attr-defined]
                break
            threading.Event().wait(0.01)
        overloaded = client.post("/predict", content=RED_JPEG, headers={"content-type": "image/jpeg"})
        assert overloaded.status_code == 503
        assert overloaded.json()["code"] == "overloaded"
        assert overloaded.headers["retry-after"] == "1"
        controllable.gate.set()
        assert running.result(5) == 200
        assert queued.result(5) == 200


@pytest.mark.parametrize("batching", [True, False])
def test_inference_failure_is_a_clear_500_logged_with_the_request_id(
    make_settings: SettingsFactory, controllable: type[ControllableModel], json_log: LogLines, batching: bool
) -> None:
    with app_client(make_settings(batching=batching), controllable) as client:
        controllable.fail = True
        headers = {"content-type": "image/jpeg", "x-request-id": "req-fails"}
        response = client.post("/predict", content=RED_JPEG, headers=headers)
        controllable.fail = False
        assert response.status_code == 500
        assert response.json() == {"error": "model inference failed: RuntimeError", "code": "inference_failed"}
    failed = [line for line in json_log() if line["message"].startswith("inference failed")]
    assert len(failed) == 1 and "simulated failure" in failed[0]["traceback"]
    # The batcher's worker runs outside the request; it names the requests of the batch that failed.
    assert failed[0].get("request_id") == "req-fails" or failed[0].get("request_ids") == ["req-fails"]
    answered = [line for line in json_log() if line["message"].startswith("request failed")]
    assert [line["request_id"] for line in answered] == ["req-fails"]


def test_unexpected_errors_are_a_generic_500_with_the_traceback_logged(
    make_settings: SettingsFactory, json_log: LogLines
) -> None:
    with app_client(make_settings(), WrongLabelsModel, raise_server_exceptions=False) as client:
        response = client.post(
            "/predict", content=RED_JPEG, headers={"content-type": "image/jpeg", "x-request-id": "req-500"}
        )
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error", "code": "internal_error"}
    assert response.headers["x-request-id"] == "req-500"
    errors = [line for line in json_log() if line["level"] == "error"]
    assert len(errors) == 1 and "ValueError" in errors[0]["traceback"]
    assert errors[0]["request_id"] == "req-500"


# --- request ids, access log, metrics, CORS, OpenAPI ----------------------------------------------------------


def test_request_id_is_honoured_sanitised_or_generated(client: TestClient) -> None:
    assert client.get("/health", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    for bad in ("has space", "x" * 200, "semi;colon", "ünï"):
        returned = client.get("/health", headers={b"x-request-id": bad.encode("utf-8")}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", returned)
    first = client.get("/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert client.get("/health").headers["x-request-id"] != first
    assert client.get("/missing", headers={"x-request-id": "on-404"}).headers["x-request-id"] == "on-404"


def test_access_log_is_one_structured_record_without_the_body(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture, json_log: LogLines
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    with app_client(make_settings(access_log=True)) as client:
        client.post("/predict", content=RED_JPEG, headers={"content-type": "image/jpeg", "x-request-id": "log-me"})
    lines = [line for line in json_log() if line["logger"] == "service.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "log-me"
    assert (line["method"], line["path"], line["route"], line["status"]) == ("POST", "/predict", "/predict", 200)
    assert line["duration_ms"] > 0
    assert line["client"]
    assert "JFIF" not in caplog.text and RED_JPEG[:20].hex() not in caplog.text


def test_access_log_can_be_switched_off(make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    with app_client(make_settings(access_log=False)) as client:
        client.get("/health")
    assert not [record for record in caplog.records if record.name == "service.access"]


def test_metrics(client: TestClient) -> None:
    for _ in range(3):
        client.post("/predict", content=RED_JPEG, headers={"content-type": "image/jpeg"})
    client.post("/predict", content=b"junk", headers={"content-type": "image/jpeg"})
    client.get("/v2/models/cifar10-cnn")
    client.get("/nowhere/1")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'cifar10_http_requests_total{method="POST",route="/predict",status="200"} 3.0' in text
    assert 'cifar10_http_requests_total{method="POST",route="/predict",status="400"} 1.0' in text
    assert 'cifar10_http_requests_total{method="GET",route="/v2/models/{model_name}",status="200"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert 'cifar10_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/predict"}' in text
    assert 'cifar10_http_request_duration_seconds_count{method="POST",route="/predict"} 4.0' in text
    assert "cifar10_inference_duration_seconds_count" in text
    assert 'cifar10_batch_size_images_bucket{le="1.0"}' in text
    assert "cifar10_batch_size_requests_count" in text
    assert "cifar10_http_requests_in_flight 1.0" in text  # the /metrics request itself
    assert "cifar10_batch_queue_depth 0.0" in text
    assert "cifar10_decode_queue_depth 0.0" in text
    assert "cifar10_body_memory_bytes 0.0" in text
    assert "cifar10_event_loop_lag_seconds_bucket" in text
    assert re.search(r"server-timing", str(response.headers), re.IGNORECASE)
    assert 'cifar10_predictions_total{band="high",label="Aeroplane"} 3.0' in text
    assert 'cifar10_model_info{name="cifar10-cnn",precision="fp32"' in text


def test_every_stage_of_the_request_path_is_timed(make_settings: SettingsFactory) -> None:
    from service.stages import STAGES

    with app_client(make_settings(stage_timing_one_in=1)) as client:  # every call timed, none left to chance
        for _ in range(3):
            assert client.post("/predict", content=RED_JPEG, headers=JPEG).status_code == 200
        stages = client.app.state.service.metrics.stages.seconds  # type: ignore[attr-defined]
        text = client.get("/metrics").text  # a scrape publishes the running totals
    assert set(stages) == set(STAGES)
    assert all(seconds > 0 for seconds in stages.values()), stages
    for stage in STAGES:
        line = next(
            line for line in text.splitlines() if line.startswith(f'cifar10_stage_seconds_total{{stage="{stage}"}}')
        )
        assert float(line.split()[-1]) > 0


def test_two_apps_keep_separate_metrics(make_settings: SettingsFactory) -> None:
    with app_client(make_settings()) as first, app_client(make_settings()) as second:
        first.get("/health")
        assert 'route="/health"' in first.get("/metrics").text
        assert 'route="/health"' not in second.get("/metrics").text


def test_cors_is_off_unless_configured(make_settings: SettingsFactory) -> None:
    preflight = {"origin": "http://example.com", "access-control-request-method": "POST"}
    with app_client(make_settings()) as client:
        assert "access-control-allow-origin" not in client.get("/health", headers={"origin": "http://x"}).headers
    with app_client(make_settings(cors_origins=("http://example.com",))) as client:
        response = client.options("/predict", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://example.com"
        assert client.options("/predict", headers={**preflight, "origin": "http://evil"}).status_code == 400


def test_openapi_document_covers_every_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for route in client.app.routes:  # type: ignore[attr-defined]
        operations = document["paths"][route.path]
        for method in route.methods - {"HEAD"}:
            operation = operations[method.lower()]
            assert "200" in operation["responses"]
    predict = document["paths"]["/predict"]["post"]
    assert set(predict["responses"]) >= {"200", "400", "413", "415", "422", "503"}
    assert set(predict["requestBody"]["content"]) == {"multipart/form-data", "image/*", "application/octet-stream"}
    body = client.post("/predict?top_k=2", content=RED_JPEG, headers={"content-type": "image/jpeg"}).json()
    schema = document["components"]["schemas"]["Prediction"]
    assert set(schema["required"]) <= set(body) <= set(schema["properties"])


def test_settings_carry_into_the_app(make_settings: SettingsFactory) -> None:
    settings = make_settings(batching=False, intra_op_threads=2, resize="crop", max_batch_wait_ms=5.0)
    with app_client(settings) as client:
        info = client.get("/model").json()
        assert info["batching"]["enabled"] is False
        assert info["batching"]["max_batch_wait_ms"] == 0.0  # no batcher queue: nothing waits
        assert info["threads"]["intra_op"] == 2
        assert info["resize"] == "crop"
        assert client.post("/predict", content=RED_JPEG, headers={"content-type": "image/jpeg"}).status_code == 200
