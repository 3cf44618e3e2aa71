"""Tests for benchmarks.load: parsing hey's and wrk's summaries into figures."""

from __future__ import annotations

import pytest

from benchmarks.load import parse_hey, parse_wrk

# Abridged real `hey` output: a run with 200s and a 503, and a run where every request failed.
SUMMARY = """
Summary:
  Total:\t2.0000 secs
  Slowest:\t0.0523 secs
  Fastest:\t0.0012 secs
  Average:\t0.0045 secs
  Requests/sec:\t1501.0000

Latency distribution:
  10% in 0.0020 secs
  25% in 0.0030 secs
  50% in 0.0040 secs
  75% in 0.0050 secs
  90% in 0.0060 secs
  95% in 0.0070 secs
  99% in 0.0100 secs

Status code distribution:
  [200]\t3000 responses
  [503]\t2 responses
"""

FAILED = """
Summary:
  Total:\t0.0014 secs
  Slowest:\t0.0000 secs
  Fastest:\t0.0000 secs
  Average:\t NaN secs
  Requests/sec:\t14266.4342

Latency distribution:

Status code distribution:

Error distribution:
  [20]\tGet "http://127.0.0.1:9/": dial tcp 127.0.0.1:9: connect: connection refused
"""


def test_parse_reads_rates_percentiles_and_statuses() -> None:
    result = parse_hey(SUMMARY, concurrency=8)
    assert result.concurrency == 8
    assert result.seconds == pytest.approx(2.0)
    assert (result.requests, result.ok, result.non_2xx, result.errors) == (3002, 3000, 2, 0)
    assert result.ok_per_s == pytest.approx(1500.0)
    assert result.requests_per_s == pytest.approx(1501.0)
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == pytest.approx((4.0, 7.0, 10.0))
    assert result.mean_ms == pytest.approx(4.5)
    assert result.status_codes == {"200": 3000, "503": 2}


def test_parse_counts_transport_errors_and_reports_no_latency() -> None:
    result = parse_hey(FAILED, concurrency=2)
    assert (result.requests, result.ok, result.errors) == (20, 0, 20)
    assert result.ok_per_s == 0.0
    assert result.p50_ms is None
    assert result.mean_ms is None
    assert "connection refused" in result.error_messages[0]


def test_parse_rejects_text_that_is_not_a_summary() -> None:
    with pytest.raises(ValueError, match="not a hey summary"):
        parse_hey("hey: unknown flag -x", concurrency=1)


# wrk's own report, then the JSON line benchmarks/wrk_post.lua prints (from a real run against the ceiling).
WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8123/predict
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.32ms    5.10ms  41.20ms   95.01%
  6094 requests in 1.10s, 2.06MB read
Requests/sec:   5535.44
Transfer/sec:      1.87MB

{"requests": 6094, "duration_us": 1100907, "status_errors": 3, "connect": 0, "read": 2, "write": 0, "timeout": 1, \
"p50_us": 5458, "p95_us": 8692, "p99_us": 34366, "mean_us": 6315.2}
""".replace("\\\n", "")


def test_parse_wrk_reads_the_scripts_summary_line() -> None:
    result = parse_wrk(WRK_OUTPUT, concurrency=32)
    assert result.seconds == pytest.approx(1.100907)
    assert (result.requests, result.ok, result.non_2xx, result.errors) == (6097, 6091, 3, 3)
    assert result.ok_per_s == pytest.approx(6091 / 1.100907)
    latencies = (result.p50_ms, result.p95_ms, result.p99_ms, result.mean_ms)
    assert latencies == pytest.approx((5.458, 8.692, 34.366, 6.3152))
    assert result.status_codes == {"< 400": 6091, ">= 400": 3}
    assert result.error_messages == ["2× socket read errors", "1× socket timeout errors"]


def test_parse_wrk_refuses_output_without_the_summary_line() -> None:
    with pytest.raises(ValueError, match="not a wrk summary"):
        parse_wrk("unable to connect to 127.0.0.1:9 Connection refused\n", concurrency=1)
