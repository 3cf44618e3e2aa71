"""The hostile-input catalogue against a real server (``python -m service``): documented answers over real
sockets, no memory jump, and a JSON access log with request ids but never image bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.processes import RunningServer, service_spec
from reliability.catalogue import build_catalogue, send_catalogue, with_request_id
from reliability.client import HttpAnswer, HttpRequest, send
from tests.reliability.conftest import LIMITS
from tests.reliability.leaks import SECRET_MARKER, leaks_in, marked_png

pytestmark = pytest.mark.server

# Generous for a shared box; the median refusal takes about a millisecond over loopback.
QUICK_S = 1.0
PEAK_GROWTH_KIB = 40 * 1024


@pytest.fixture(scope="module")
def server(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    environ = {**LIMITS.environ(), "CIFAR10_ACCESS_LOG": "true"}
    with RunningServer(service_spec(tiny_model_path, environ), tmp_path_factory.mktemp("hostile")) as running:
        yield running


def post(server: RunningServer, request: HttpRequest, request_id: str) -> HttpAnswer:
    return send("127.0.0.1", server.port, with_request_id(request, request_id))


def wait_for_log(server: RunningServer, fragment: str) -> str:
    deadline = time.monotonic() + 5
    while fragment not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.log_text()


def test_catalogue_over_real_sockets_without_a_memory_jump(server: RunningServer) -> None:
    marked = HttpRequest("POST", "/predict", {"Content-Type": "image/png"}, marked_png())
    run = send_catalogue(server.port, server.process.pid, build_catalogue(LIMITS), marked)
    for answer in run.warm_up:  # ordinary traffic first, to settle allocator arenas
        assert answer.status == 200
    growth = run.peak_rss_growth_kib
    for case, answer in run.answers:
        name = case.name
        assert answer.outcome == "complete", name
        assert answer.status == case.status, (name, answer.body[:200])
        assert answer.headers["content-type"] == "application/json", name
        entry = case.error_entry(answer.json())
        assert entry["code"] == case.code, name
        assert leaks_in(answer.body.decode()) == [], name
        assert answer.seconds < QUICK_S, (name, answer.seconds)
    assert growth < PEAK_GROWTH_KIB, f"the server's peak RSS grew by {growth} kB during the catalogue"
    assert post(server, marked, "after").status == 200


def test_logs_are_json_with_request_ids_and_no_image_bytes(server: RunningServer) -> None:
    marked = marked_png()
    truncated = marked[: marked.index(b"IDAT") + 10]  # the marker survives, the pixels do not: a 400
    ok = post(server, HttpRequest("POST", "/predict", {"Content-Type": "image/png"}, marked), "log-ok")
    bad = post(server, HttpRequest("POST", "/predict", {"Content-Type": "image/png"}, truncated), "log-bad")
    batch_body = (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="m.png"\r\n\r\n' + truncated + b"\r\n--b--\r\n"
    )
    batch = post(
        server,
        HttpRequest("POST", "/predict/batch", {"Content-Type": "multipart/form-data; boundary=b"}, batch_body),
        "log-batch",
    )
    assert (ok.status, bad.status, batch.status) == (200, 400, 200)
    text = wait_for_log(server, "log-batch")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON record
    by_id = {record.get("request_id"): record for record in records if record.get("logger") == "service.access"}
    for request_id, status in (("log-ok", 200), ("log-bad", 400), ("log-batch", 200)):
        assert by_id[request_id]["status"] == status
        assert by_id[request_id]["path"].startswith("/predict")
    assert SECRET_MARKER not in text
    assert "IHDR" not in text and "\\x89PNG" not in text and marked[:64].hex() not in text
    assert "Traceback" not in text  # 4xx answers are expected failures, not logged as errors
