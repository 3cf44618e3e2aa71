"""Tests for benchmarks.profiling: turning profiler output into shares of work."""

from __future__ import annotations

import pytest

from benchmarks.profiling import aggregate, bucket_of, split_frame

COLLAPSED = "\n".join(
    [
        "thread (1): MainThread;run (asyncio/runners.py:118);predict (service/endpoints.py:134);"
        "decode (service/preprocessing.py:40);load (PIL/ImageFile.py:300) 30",
        "thread (1): MainThread;run (asyncio/runners.py:118);parse (starlette/formparsers.py:266);hex (uuid.py:336) 10",
        "thread (2): inference_0;_bootstrap (threading.py:1002);run (onnxruntime/capi/session.py:220) 50",
        "thread (1): MainThread;run (asyncio/runners.py:118) 10",
        "not a sample line",
    ]
)


def test_split_frame_separates_function_and_file() -> None:
    assert split_frame("predict (service/endpoints.py:134)") == ("predict", "service/endpoints.py")
    assert split_frame("Runner.run (asyncio/runners.py)") == ("Runner.run", "asyncio/runners.py")


def test_bucket_is_the_first_kind_of_work_in_the_stack() -> None:
    assert bucket_of(["asyncio/runners.py", "starlette/formparsers.py", "uuid.py"]) == "multipart parsing"
    assert bucket_of(["threading.py", "onnxruntime/capi/session.py"]) == "inference (onnxruntime)"
    assert bucket_of(["somewhere/else.py"]) == "other"


def test_without_specific_work_the_innermost_layer_decides() -> None:
    assert bucket_of(["asyncio/runners.py", "starlette/routing.py", "service/endpoints.py"]) == "other service code"
    assert bucket_of(["service/middleware.py", "starlette/routing.py"]) == "Starlette routing, middleware, responses"


def test_aggregate_shares_by_thread_bucket_and_innermost_file() -> None:
    result = aggregate(COLLAPSED)
    assert result["samples"] == 100
    threads = {item["thread"]: item["share"] for item in result["threads"]}
    assert threads == pytest.approx({"MainThread": 0.5, "inference_0": 0.5})
    buckets = {item["bucket"]: item["share"] for item in result["buckets"]}
    assert buckets == pytest.approx(
        {
            "inference (onnxruntime)": 0.5,
            "image decode + resize (Pillow)": 0.3,
            "multipart parsing": 0.1,
            "event loop (asyncio, uvloop)": 0.1,
        }
    )
    assert result["self_by_file"][0] == {"file": "onnxruntime/capi/session.py", "share": 0.5}
