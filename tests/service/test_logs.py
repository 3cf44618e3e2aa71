"""Structured logging and request-id sanitising."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from service.logs import JsonFormatter, configure_logging
from service.middleware import sanitise_request_id


def test_json_line_has_extra_fields_and_traceback() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info(), extra={"request_id": "r1"}
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed here"
    assert entry["level"] == "error"
    assert entry["request_id"] == "r1"
    assert "ValueError: bad" in entry["traceback"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


def test_configure_logging_installs_one_json_handler() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("warning")
        assert root.level == logging.WARNING
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.mark.parametrize("good", ["abc", "A-b_c.d:e/f+g=h@i", "x" * 128])
def test_safe_request_ids_are_kept(good: str) -> None:
    assert sanitise_request_id(good) == good


@pytest.mark.parametrize("bad", [None, "", "x" * 129, "new\nline", 'quote"', "<script>"])
def test_unsafe_request_ids_are_replaced(bad: str | None) -> None:
    replaced = sanitise_request_id(bad)
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
