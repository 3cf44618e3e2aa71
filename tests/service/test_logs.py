"""Structured logging and request-id sanitising."""

from __future__ import annotations

import json
import logging
import os
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


def _record(**extra: object) -> logging.LogRecord:
    return logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "request", (), None, extra=extra)


def test_json_line_reads_back_as_the_standard_encoder_would_write_it() -> None:
    fields = {"method": "POST", "status": 200, "duration_ms": 1.234, "client": "127.0.0.1:5555", "note": "café ☃"}
    entry = json.loads(JsonFormatter().format(_record(**fields)))
    assert {key: entry[key] for key in fields} == fields
    assert entry["pid"] == os.getpid()
    assert entry["logger"] == "x"


def test_values_orjson_refuses_fall_back_to_the_standard_encoder() -> None:
    huge = 2**70  # past orjson's 64-bit integers
    entry = json.loads(JsonFormatter().format(_record(count=huge, table={1: "one"}, thing=object())))
    assert entry["count"] == huge
    assert entry["table"] == {"1": "one"}
    assert entry["thing"].startswith("<object object")


def test_time_stamp_follows_each_record_across_seconds() -> None:
    formatter = JsonFormatter()
    first, second = _record(), _record()
    first.created, first.msecs = 1_700_000_000.25, 250.0
    second.created, second.msecs = 1_700_000_001.5, 500.0
    assert json.loads(formatter.format(first))["time"] == "2023-11-14T22:13:20.250Z"
    assert json.loads(formatter.format(second))["time"] == "2023-11-14T22:13:21.500Z"


def test_configure_logging_skips_the_caller_lookup() -> None:
    root = logging.getLogger()
    switches = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    saved_handlers, saved_level = root.handlers[:], root.level
    records: list[logging.LogRecord] = []
    try:
        configure_logging("info")
        capture = logging.Handler()
        capture.emit = records.append  # type: ignore[method-assign]
        root.addHandler(capture)
        logging.getLogger("x").info("hello")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = switches
    assert [record.getMessage() for record in records] == ["hello"]
    assert records[0].lineno == 0  # no frame walk for a field no line prints
    assert records[0].threadName is None


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
