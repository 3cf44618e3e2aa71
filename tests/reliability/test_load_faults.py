"""A real server (``python -m service``) under load: SIGTERM mid-load leaves nothing half-answered and exits 0;
a small queue sheds a flood with JSON 503s and recovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.processes import RunningServer, service_spec
from reliability.catalogue import jpeg_request
from reliability.client import HttpAnswer, HttpRequest, send
from reliability.stress import flood, sigterm_under_load
from tests.reliability.models import build_slow_model

pytestmark = [pytest.mark.server, pytest.mark.slow]

PREDICT = jpeg_request()
# About 16 ms of model time per image: requests are really in flight when the signal lands or the queue fills.
SLOW_SERVER_ENV = {"CIFAR10_MAX_BATCH_SIZE": "4", "CIFAR10_MAX_BATCH_WAIT_MS": "1", "CIFAR10_ACCESS_LOG": "false"}


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_slow_model(tmp_path_factory.mktemp("slow") / "slow.onnx")


def is_prediction(answer: HttpAnswer) -> bool:
    document = answer.json()
    return isinstance(document, dict) and set(document["probabilities"]) >= {document["label"]}


def test_sigterm_during_load_completes_in_flight_requests_and_exits_0(slow_model: Path, tmp_path: Path) -> None:
    with RunningServer(service_spec(slow_model, SLOW_SERVER_ENV), tmp_path) as server:
        result = sigterm_under_load(server, PREDICT, clients=24, load_before_s=1.0)
        log = server.log_text()
    outcomes = result["outcomes"]
    assert outcomes.get("partial", 0) == 0, result["examples"]  # nothing half-answered
    assert result["malformed_answers"] == 0, result["examples"]
    assert set(outcomes) <= {"200", "503", "refused", "no_response"}, outcomes
    assert outcomes.get("200", 0) > 10
    assert result["in_flight_at_signal"] > 0  # requests were really in flight, and they completed
    assert result["exit_code"] == 0, log[-2000:]
    assert result["exit_seconds"] is not None and result["exit_seconds"] < 20
    assert "inference drained" in log
    assert result["clean"]


def test_overload_sheds_with_json_503_and_recovers(slow_model: Path, tmp_path: Path) -> None:
    environ = {**SLOW_SERVER_ENV, "CIFAR10_MAX_QUEUE": "2", "CIFAR10_MAX_BATCH_SIZE": "1"}
    with RunningServer(service_spec(slow_model, environ), tmp_path) as server:
        port = server.port
        result = flood(port, PREDICT, PREDICT, clients=32, seconds=2.0, recovery_requests=10)
        ready = send("127.0.0.1", port, HttpRequest("GET", "/ready"))
        later = [send("127.0.0.1", port, PREDICT) for _ in range(5)]
    outcomes = result["outcomes"]
    assert set(outcomes) <= {"200", "503"}, outcomes
    assert outcomes.get("503", 0) > 0, "a queue of 2 must shed a flood from 32 clients"
    assert outcomes.get("200", 0) > 0, "the server keeps serving what fits"
    assert result["shed_answers_well_formed"]
    assert result["recovery_ok"] == result["recovery_requests"]
    assert result["shed_and_recovered"]
    assert ready.status == 200  # readiness does not flap under overload
    assert all(answer.status == 200 and is_prediction(answer) for answer in later)


@pytest.fixture
def fast_server(tiny_model_path: Path, tmp_path: Path) -> Iterator[RunningServer]:
    with RunningServer(service_spec(tiny_model_path, {"CIFAR10_MAX_UPLOAD_BYTES": "1048576"}), tmp_path) as server:
        yield server


def test_streamed_upload_over_the_limit_is_refused_early(fast_server: RunningServer) -> None:
    body = b"\xff\xd8" + b"\0" * (8 * 1024 * 1024)
    answer = send(
        "127.0.0.1",
        fast_server.port,
        HttpRequest("POST", "/predict", {"Content-Type": "image/jpeg"}, body, streamed=True),
    )
    assert answer.outcome == "complete"
    assert answer.status == 413
    assert answer.json()["code"] == "payload_too_large"
    assert answer.seconds < 2.0
    assert send("127.0.0.1", fast_server.port, PREDICT).status == 200
