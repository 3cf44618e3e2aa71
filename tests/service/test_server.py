"""A real uvicorn server on a free port: tritonclient compatibility, access logs, graceful SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from benchmarks.processes import RunningServer, service_spec
from tests.service.conftest import COMMITTED_FP32
from tests.service.images import jpeg

pytestmark = pytest.mark.server

tritonhttp = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    if not COMMITTED_FP32.exists():
        pytest.skip(f"{COMMITTED_FP32} is missing")
    with RunningServer(service_spec("fp32"), tmp_path_factory.mktemp("server")) as running:
        yield running


def test_tritonclient_health_and_metadata(server: RunningServer) -> None:
    client = tritonhttp.InferenceServerClient(server.host_port)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("cifar10-cnn")
        assert not client.is_model_ready("resnet50")
        metadata = client.get_model_metadata("cifar10-cnn")
        assert metadata["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, 32, 32, 3]}]
        assert metadata["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    finally:
        client.close()


@pytest.mark.parametrize(("binary_input", "binary_output"), [(True, True), (False, False), (True, False)])
def test_tritonclient_infer_matches_onnxruntime(server: RunningServer, binary_input: bool, binary_output: bool) -> None:
    batch = np.random.default_rng(3).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    expected = ort.InferenceSession(str(COMMITTED_FP32)).run(None, {"image": batch})[0]
    client = tritonhttp.InferenceServerClient(server.host_port)
    try:
        tensor = tritonhttp.InferInput("image", list(batch.shape), "UINT8")
        tensor.set_data_from_numpy(batch, binary_data=binary_input)
        output = tritonhttp.InferRequestedOutput("probabilities", binary_data=binary_output)
        result = client.infer("cifar10-cnn", [tensor], outputs=[output], request_id="triton-1")
    finally:
        client.close()
    assert result.get_response()["id"] == "triton-1"
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)


def test_tritonclient_default_outputs_are_binary(server: RunningServer) -> None:
    batch = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    client = tritonhttp.InferenceServerClient(server.host_port)
    try:
        tensor = tritonhttp.InferInput("image", [1, 32, 32, 3], "UINT8")
        tensor.set_data_from_numpy(batch)
        result = client.infer("cifar10-cnn", [tensor])
    finally:
        client.close()
    assert result.get_output("probabilities")["parameters"]["binary_data_size"] == 40
    assert result.as_numpy("probabilities").sum() == pytest.approx(1.0, abs=1e-5)


def test_tritonclient_model_config_statistics_and_repository_index(server: RunningServer) -> None:
    client = tritonhttp.InferenceServerClient(server.host_port)
    try:
        config = client.get_model_config("cifar10-cnn")
        assert config["max_batch_size"] == 32
        assert config["input"] == [
            {"name": "image", "data_type": "TYPE_UINT8", "format": "FORMAT_NHWC", "dims": [32, 32, 3]}
        ]
        assert config["output"] == [{"name": "probabilities", "data_type": "TYPE_FP32", "dims": [10]}]
        assert "dynamic_batching" in config
        before = client.get_inference_statistics("cifar10-cnn")["model_stats"][0]
        tensor = tritonhttp.InferInput("image", [3, 32, 32, 3], "UINT8")
        tensor.set_data_from_numpy(np.zeros((3, 32, 32, 3), dtype=np.uint8))
        client.infer("cifar10-cnn", [tensor])
        after = client.get_inference_statistics("cifar10-cnn")["model_stats"][0]
        assert after["inference_count"] - before["inference_count"] == 3
        assert after["execution_count"] - before["execution_count"] == 1
        success = after["inference_stats"]["success"]
        assert success["count"] - before["inference_stats"]["success"]["count"] == 1
        assert success["ns"] > before["inference_stats"]["success"]["ns"]
        assert after["inference_stats"]["compute_infer"]["ns"] > 0
        assert any(entry["batch_size"] == 3 for entry in after["batch_stats"])
        assert client.get_inference_statistics()["model_stats"][0]["name"] == "cifar10-cnn"
        (entry,) = client.get_model_repository_index()
        assert (entry["name"], entry["state"]) == ("cifar10-cnn", "READY")
        with pytest.raises(tritonhttp.InferenceServerException):
            client.get_model_config("resnet50")
    finally:
        client.close()


@pytest.mark.parametrize("binary_output", [True, False])
def test_tritonclient_classification_extension(server: RunningServer, binary_output: bool) -> None:
    batch = np.random.default_rng(5).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    expected = ort.InferenceSession(str(COMMITTED_FP32)).run(None, {"image": batch})[0]
    client = tritonhttp.InferenceServerClient(server.host_port)
    try:
        tensor = tritonhttp.InferInput("image", list(batch.shape), "UINT8")
        tensor.set_data_from_numpy(batch)
        output = tritonhttp.InferRequestedOutput("probabilities", binary_data=binary_output, class_count=3)
        classes = client.infer("cifar10-cnn", [tensor], outputs=[output]).as_numpy("probabilities")
    finally:
        client.close()
    assert classes.shape == (2, 3)
    for row, probabilities in zip(classes, expected, strict=True):
        fields = [entry.decode().split(":") if isinstance(entry, bytes) else str(entry).split(":") for entry in row]
        assert [int(index) for _, index, _ in fields] == list(np.argsort(-probabilities, kind="stable")[:3])
        assert float(fields[0][0]) == pytest.approx(float(probabilities.max()), abs=1e-5)
        assert fields[0][2] in (
            "Aeroplane",
            "Automobile",
            "Bird",
            "Cat",
            "Deer",
            "Dog",
            "Frog",
            "Horse",
            "Ship",
            "Truck",
        )


def test_predict_and_json_access_log(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/predict", content=jpeg(), headers={"content-type": "image/jpeg", "x-request-id": "srv-1"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "srv-1"
    assert "server" not in response.headers
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "srv-1" not in server.log_text():
        time.sleep(0.05)
    lines = [json.loads(line) for line in server.log_text().splitlines() if "srv-1" in line]
    assert lines and lines[0]["status"] == 200 and lines[0]["path"] == "/predict"


def _requests_in_flight(running: RunningServer) -> int:
    """The in-flight gauge of one scrape, not counting the scrape itself."""
    text = httpx.get(f"{running.url}/metrics", timeout=5).text
    (line,) = [line for line in text.splitlines() if line.startswith("cifar10_http_requests_in_flight ")]
    return int(float(line.split()[1])) - 1


def _sigterm_during_a_slow_upload(running: RunningServer) -> list[httpx.Response]:
    """Send SIGTERM while an upload is half sent (the server counts it in flight); return its response."""
    body = jpeg()
    responses: list[httpx.Response] = []
    release = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield body[:100]
        release.wait(10)
        yield body[100:]

    def send() -> None:
        responses.append(
            httpx.post(f"{running.url}/predict", content=slow_body(), headers={"content-type": "image/jpeg"})
        )

    sender = threading.Thread(target=send)
    sender.start()
    # Several workers: each scrape reaches one of them, so poll until one reports the upload.
    deadline = time.monotonic() + 10
    while _requests_in_flight(running) < 1:
        assert time.monotonic() < deadline, "the upload never showed as in flight"
        time.sleep(0.01)
    running.process.send_signal(signal.SIGTERM)
    # uvicorn stops accepting at once; the upload already in flight must still finish.
    deadline = time.monotonic() + 10
    while "Shutting down" not in running.log_text():
        assert time.monotonic() < deadline, "the server never began shutting down"
        time.sleep(0.01)
    release.set()
    sender.join(10)
    return responses


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    with RunningServer(service_spec(COMMITTED_FP32), tmp_path) as running:
        responses = _sigterm_during_a_slow_upload(running)
        # uvicorn finishes its graceful shutdown; service.__main__ turns the re-raised SIGTERM into a clean exit.
        assert running.process.wait(15) == 0
        assert responses and responses[0].status_code == 200
        assert "inference drained" in running.log_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{running.url}/health", timeout=1)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _running(pid: int) -> bool:
    """The process exists and has not exited (a zombie has exited; its reaping is init's business)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_sigterm_with_several_workers_drains_every_worker(tmp_path: Path) -> None:
    with RunningServer(service_spec(COMMITTED_FP32, {"CIFAR10_WORKERS": "2"}), tmp_path) as running:
        workers = [child for child in _children(running.process.pid) if _running(child)]
        assert len(workers) >= 2, workers  # uvicorn's supervisor and its worker processes
        for _ in range(4):
            assert httpx.post(
                f"{running.url}/predict", content=jpeg(), headers={"content-type": "image/jpeg"}
            ).is_success
        responses = _sigterm_during_a_slow_upload(running)
        assert running.process.wait(20) == 0
        assert responses and responses[0].status_code == 200
        assert running.log_text().count("inference drained") == 2  # each worker drained its own batcher
        # No worker left behind. multiprocessing's resource tracker (also a child) exits a moment after the
        # supervisor closes its pipe, so allow it a few seconds.
        deadline = time.monotonic() + 5
        while [worker for worker in workers if _running(worker)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [worker for worker in workers if _running(worker)]


def test_sigterm_starts_a_lame_duck_window_before_the_drain(tmp_path: Path) -> None:
    with RunningServer(service_spec(COMMITTED_FP32, {"CIFAR10_DRAIN_S": "1.5"}), tmp_path) as running:
        with httpx.Client(base_url=running.url) as client:  # one keep-alive connection
            assert client.get("/ready").status_code == 200
            running.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            while client.get("/ready").status_code != 503:
                assert time.monotonic() < deadline, "readiness never turned red"
                time.sleep(0.01)
            # Still serving, but every answer tells the client to take its next request elsewhere.
            answer = client.post("/predict", content=jpeg(), headers={"content-type": "image/jpeg"})
            assert answer.status_code == 200
            assert answer.headers["connection"] == "close"
        assert running.process.poll() is None  # the window is not over yet
        assert running.process.wait(15) == 0
        log = running.log_text()
        assert "draining for 1.5 s" in log
        assert log.index("draining for") < log.index("Shutting down") < log.index("inference drained")


# --- HTTP limits of the server's protocol ---------------------------------------------------------------------

LIMITED = {
    "CIFAR10_MAX_HEADER_BYTES": "4096",
    "CIFAR10_MAX_HEADERS": "20",
    "CIFAR10_HEADER_TIMEOUT_S": "0.5",
    "CIFAR10_BODY_TIMEOUT_S": "0.5",
    "CIFAR10_MAX_CONNECTIONS": "4",
}


@pytest.fixture(scope="module")
def limited(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with RunningServer(service_spec(tiny_model_path, LIMITED), tmp_path_factory.mktemp("limited")) as running:
        yield running


def exchange(server: RunningServer, data: bytes, *, pause_s: float = 0.0) -> bytes:
    """Send ``data`` on a fresh connection, optionally wait, and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(data)
        time.sleep(pause_s)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def status_and_body(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_oversized_headers_are_431_before_the_app(limited: RunningServer) -> None:
    big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    status, body = status_and_body(exchange(limited, big))
    assert status == 431 and body["code"] == "request_headers_too_large"
    assert "CIFAR10_MAX_HEADER_BYTES" in body["error"]
    many = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(50)) + b"\r\n"
    status, body = status_and_body(exchange(limited, many))
    assert status == 431 and "CIFAR10_MAX_HEADERS" in body["error"]


def test_a_trickled_request_head_is_408_and_a_silent_connection_is_closed(limited: RunningServer) -> None:
    started = time.monotonic()
    status, body = status_and_body(exchange(limited, b"GET /hea"))  # never finished
    assert status == 408 and "CIFAR10_HEADER_TIMEOUT_S" in body["error"]
    assert exchange(limited, b"") == b""  # connected, sent nothing: closed without an answer
    assert time.monotonic() - started < 5


def test_a_stalled_body_closes_the_connection_and_counts_as_a_client_disconnect(limited: RunningServer) -> None:
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n"
    assert exchange(limited, head + b"\xff\xd8" * 5) == b""
    deadline = time.monotonic() + 5
    while "client disconnected" not in limited.log_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    metrics = httpx.get(f"{limited.url}/metrics").text
    assert 'route="/predict",status="499"' in metrics
    assert not [line for line in metrics.splitlines() if 'status="5' in line and "/predict" in line]


def _health_until(server: RunningServer, status: int) -> None:
    """GET /health until it answers ``status`` (the server accepts and drops connections asynchronously)."""
    deadline = time.monotonic() + 5
    while (answer := httpx.get(f"{server.url}/health")).status_code != status:
        assert time.monotonic() < deadline, f"/health kept answering {answer.status_code}, not {status}"


def test_connections_over_the_cap_are_503(limited: RunningServer) -> None:
    idle = [socket.create_connection(("127.0.0.1", limited.port)) for _ in range(4)]
    try:
        _health_until(limited, 503)  # once the server has accepted the four idle ones
    finally:
        for connection in idle:
            connection.close()
    _health_until(limited, 200)


def test_metrics_add_up_over_two_workers(tmp_path: Path) -> None:
    environ = {"CIFAR10_WORKERS": "2", "CIFAR10_ACCESS_LOG": "true"}
    with RunningServer(service_spec(COMMITTED_FP32, environ), tmp_path) as running:
        for _ in range(20):
            # A fresh connection each time, so the kernel spreads the requests over both workers.
            with httpx.Client() as client:
                response = client.post(f"{running.url}/predict", content=jpeg(), headers={"content-type": "image/jpeg"})
            assert response.status_code == 200
        lines = [json.loads(line) for line in running.log_text().splitlines() if line.startswith("{")]
        answered_by = {line["pid"] for line in lines if line.get("route") == "/predict"}
        assert len(answered_by) == 2, "the requests did not reach both workers"
        for _ in range(6):  # whichever worker answers the scrape, it reports both workers' counts
            with httpx.Client() as client:
                text = client.get(f"{running.url}/metrics").text
            assert 'cifar10_http_requests_total{method="POST",route="/predict",status="200"} 20.0' in text
            assert 'cifar10_predictions_total{band="' in text
            assert "cifar10_model_info{" in text
            # Histograms add up too: every request's latency and image is counted once, over both workers.
            assert re.search(r'cifar10_http_request_duration_seconds_count\{[^}]*route="/predict"[^}]*\} 20\.0', text)
            assert re.search(r"cifar10_batch_size_images_sum 20\.0", text), "20 single-image requests, 20 images"


def test_one_timer_serves_a_keep_alive_connection_and_still_fires_on_time() -> None:
    """The head and body deadlines move three times a request; the protocol schedules a timer only when a
    deadline comes earlier than the one set, and a deadline that moved still ends a stalled head on time."""
    import asyncio

    from uvicorn.server import ServerState

    from service.server import GuardedHttpToolsProtocol, HttpLimits, ServiceConfig

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        assert callable(receive) and callable(send)
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def scenario() -> tuple[list[float], bytes, float]:
        loop = asyncio.get_running_loop()
        scheduled: list[float] = []
        call_at = loop.call_at

        def counting_call_at(when: float, *arguments: object, **options: object) -> asyncio.TimerHandle:
            if getattr(arguments[0], "__name__", "") == "_deadline_reached":  # not uvicorn's keep-alive timer
                scheduled.append(when)
            return call_at(when, *arguments, **options)  # type: ignore[arg-type]

        loop.call_at = counting_call_at  # type: ignore[method-assign]
        limits = HttpLimits(header_timeout_s=1.5, body_timeout_s=1.5)
        config = ServiceConfig(app, http_limits=limits, lifespan="off", log_level="warning")
        state = ServerState()
        server = await loop.create_server(lambda: GuardedHttpToolsProtocol(config, state, {}), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab"
        answers = b""
        for _ in range(5):
            writer.write(request)
            answers += await reader.readuntil(b"ok")
        timers_for_five = list(scheduled)
        started = loop.time()
        writer.write(b"POST /x HTTP/1.1\r\nHo")  # a head that never ends
        closed = await reader.read()
        elapsed = loop.time() - started
        writer.close()
        server.close()
        return timers_for_five, answers + closed, elapsed

    timers, received, elapsed = asyncio.run(scenario())
    assert received.count(b"HTTP/1.1 200 OK") == 5
    assert len(timers) == 1  # five requests, fifteen deadline moves, one timer
    assert b"408" in received.split(b"ok")[-1]
    assert 1.4 <= elapsed < 4  # the head deadline (1.5 s) from when the stalled head began
