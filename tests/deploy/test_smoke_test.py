"""deploy/container/smoke_test.py: the answer checks and the multipart encoding it uses against a container."""

from __future__ import annotations

import email.message
import email.parser
from pathlib import Path
from typing import Any

import pytest

from deploy.container.smoke_test import CheckFailedError, check_prediction, multipart

LABELS = ["Aeroplane", "Automobile", "Bird", "Cat", "Deer", "Dog", "Frog", "Horse", "Ship", "Truck"]


def answer(**changes: Any) -> dict[str, Any]:
    probabilities = dict.fromkeys(LABELS, 0.01)
    probabilities["Cat"] = 0.91
    base = {
        "label": "Cat",
        "index": 3,
        "confidence": 0.91,
        "band": "high",
        "accepted": True,
        "prediction": "Cat",
        "probabilities": probabilities,
    }
    return {**base, **changes}


def test_a_consistent_answer_passes() -> None:
    check_prediction(answer(), LABELS, "test")


@pytest.mark.parametrize(
    "changes",
    [
        {"label": "Dog"},
        {"index": 4},
        {"confidence": 0.5},
        {"band": "great"},
        {"probabilities": dict.fromkeys(LABELS, 0.5)},
        {"probabilities": dict(reversed(list(answer()["probabilities"].items())))},
    ],
)
def test_inconsistent_answers_fail(changes: dict[str, Any]) -> None:
    with pytest.raises(CheckFailedError):
        check_prediction(answer(**changes), LABELS, "test")


def test_missing_keys_fail() -> None:
    broken = answer()
    del broken["band"]
    with pytest.raises(CheckFailedError, match="band"):
        check_prediction(broken, LABELS, "test")


def test_multipart_body_parses_back(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jpg", tmp_path / "b.png"
    first.write_bytes(b"\xff\xd8first")
    second.write_bytes(b"\x89PNGsecond")
    body, content_type = multipart([("files", first), ("files", second)])
    message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    payload = message.get_payload()
    assert isinstance(payload, list)
    parts = [part for part in payload if isinstance(part, email.message.Message)]
    assert len(parts) == 2
    assert [part.get_filename() for part in parts] == ["a.jpg", "b.png"]
    assert [part.get_param("name", header="content-disposition") for part in parts] == ["files", "files"]
    assert [part.get_payload(decode=True) for part in parts] == [b"\xff\xd8first", b"\x89PNGsecond"]
