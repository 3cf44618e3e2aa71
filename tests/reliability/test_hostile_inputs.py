"""Every hostile input in the catalogue gets its documented 4xx with a JSON error, quickly, in process; decompression
bombs are refused from the header, before any pixel buffer exists."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from benchmarks.processes import status_kib
from reliability.catalogue import HostileCase, build_catalogue, sample_jpeg
from reliability.client import HttpRequest
from reliability.cost import reset_peak_rss
from tests.reliability.conftest import LIMITS
from tests.reliability.leaks import leaks_in

CATALOGUE = build_catalogue(LIMITS)
BOMBS = [case for case in CATALOGUE if case.bomb]
# Generous for a shared 2-core CI box: every refusal here takes about a millisecond.
QUICK_S = 1.0
# A decoded bomb would need hundreds of MB (20000^2 1-bit PNG: 400 MB; 65000^2 JPEG even at 1/8 scale: 200 MB).
BOMB_PEAK_GROWTH_KIB = 30 * 1024


def send(client: TestClient, request: HttpRequest) -> tuple[int, dict[str, str], object, float]:
    """Send a catalogue request in process; return status, headers, JSON body and seconds taken."""
    content: bytes | Iterator[bytes] = request.body
    if request.streamed:
        body = request.body
        content = (body[start : start + 65536] for start in range(0, len(body), 65536))
    started = time.perf_counter()
    response = client.request(request.method, request.path, headers=dict(request.headers), content=content)
    elapsed = time.perf_counter() - started
    return response.status_code, dict(response.headers), response.json(), elapsed


def error_entry(case: HostileCase, body: object) -> dict[str, object]:
    """The error object of a response: the body itself, or the batch's per-file entry."""
    assert isinstance(body, dict)
    entry = case.error_entry(body)
    if case.per_file:
        assert entry["status"] == 413
    return dict(entry)


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_hostile_input_gets_its_documented_error(limited_client: TestClient, case: HostileCase) -> None:
    status, headers, body, elapsed = send(limited_client, case.request)
    assert status == case.status, body
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    entry = error_entry(case, body)
    assert entry["code"] == case.code
    assert isinstance(entry["error"], str) and entry["error"]
    if not case.per_file:
        assert set(entry) == {"error", "code"}
    assert leaks_in(str(body)) == []
    assert elapsed < QUICK_S


def test_catalogue_covers_every_documented_client_error() -> None:
    statuses = {case.status for case in CATALOGUE}
    assert statuses >= {400, 404, 405, 413, 415, 422}
    assert len(BOMBS) >= 4
    assert any(case.request.streamed for case in CATALOGUE)


@pytest.mark.parametrize("case", BOMBS, ids=[case.name for case in BOMBS])
def test_bomb_is_refused_before_decoding(limited_client: TestClient, case: HostileCase) -> None:
    if not reset_peak_rss():
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs)")
    before = status_kib(os.getpid(), "VmRSS")
    status, _, body, elapsed = send(limited_client, case.request)
    growth = status_kib(os.getpid(), "VmHWM") - before
    assert error_entry(case, body)["code"] == "image_too_large"
    assert status == case.status
    assert growth < BOMB_PEAK_GROWTH_KIB, f"peak RSS grew {growth} kB"
    assert elapsed < 0.5


def test_the_server_still_serves_after_the_catalogue(limited_client: TestClient) -> None:
    for case in CATALOGUE:  # again, so this test holds on its own (e.g. with -k), not only after the others
        send(limited_client, case.request)
    response = limited_client.post("/predict", content=sample_jpeg(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 200
    assert limited_client.get("/ready").status_code == 200
