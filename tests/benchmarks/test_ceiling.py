"""Tests for benchmarks.ceiling: it reads multipart and raw uploads and answers the constant JSON."""

from __future__ import annotations

from starlette.testclient import TestClient

from benchmarks.ceiling import CONSTANT_ANSWER, create_app
from benchmarks.inputs import MULTIPART_CONTENT_TYPE, multipart_body


def test_multipart_and_raw_uploads_get_the_constant_answer() -> None:
    with TestClient(create_app()) as client:
        multipart = client.post(
            "/predict", content=multipart_body(b"\xff\xd8jpeg"), headers={"Content-Type": MULTIPART_CONTENT_TYPE}
        )
        raw = client.post("/predict", content=b"\xff\xd8jpeg", headers={"Content-Type": "image/jpeg"})
        assert client.get("/ready").status_code == 200
    assert multipart.status_code == raw.status_code == 200
    assert multipart.json() == raw.json() == CONSTANT_ANSWER
    assert set(CONSTANT_ANSWER["probabilities"]) == {  # type: ignore[arg-type]
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
    }
