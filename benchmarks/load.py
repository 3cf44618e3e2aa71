"""Load generation, its summary parsed into figures: `hey` (Debian package `hey`) for every section, and `wrk`
(Debian package `wrk`) where the load generator shares the servers' CPUs: it spends about a third of hey's CPU
per request."""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from benchmarks.inputs import Workload
from benchmarks.processes import HOST, pinned


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured (latencies in ms; errors are transport failures)."""

    concurrency: int
    seconds: float
    requests: int
    ok: int
    non_2xx: int
    errors: int
    requests_per_s: float
    ok_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    status_codes: dict[str, int]
    error_messages: list[str]
    load_generator_cpu_cores: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


_TOTAL = re.compile(r"^\s*Total:\s+([\d.]+) secs", re.MULTILINE)
_AVERAGE = re.compile(r"^\s*Average:\s+([\d.]+) secs", re.MULTILINE)
_RPS = re.compile(r"^\s*Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*(\d+)%+ in ([\d.]+) secs", re.MULTILINE)
_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(.+)$", re.MULTILINE)
WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")  # POSTs the body file, prints a JSON summary
WRK_SOCKET_ERRORS = ("connect", "read", "write", "timeout")


class Generator(Protocol):
    """`run_hey` or `run_wrk`."""

    def __call__(
        self, port: int, workload: Workload, *, concurrency: int, seconds: float, cpus: Sequence[int]
    ) -> LoadResult: ...


def parse_hey(output: str, concurrency: int) -> LoadResult:
    """`hey`'s text summary as a LoadResult."""
    total = _TOTAL.search(output)
    if total is None:
        raise ValueError(f"not a hey summary:\n{output[:500]}")
    seconds = float(total.group(1))
    percentiles = {int(match.group(1)): float(match.group(2)) * 1e3 for match in _PERCENTILE.finditer(output)}
    status_codes = {match.group(1): int(match.group(2)) for match in _STATUS.finditer(output)}
    errors_section = output.split("Error distribution:", 1)[1] if "Error distribution:" in output else ""
    error_counts = [(int(match.group(1)), match.group(2).strip()) for match in _ERROR.finditer(errors_section)]
    errors = sum(count for count, _ in error_counts)
    responses = sum(status_codes.values())
    ok = sum(count for code, count in status_codes.items() if code.startswith("2"))
    average = _AVERAGE.search(output)
    rps = _RPS.search(output)
    return LoadResult(
        concurrency=concurrency,
        seconds=seconds,
        requests=responses + errors,
        ok=ok,
        non_2xx=responses - ok,
        errors=errors,
        requests_per_s=float(rps.group(1)) if rps else responses / seconds,
        ok_per_s=ok / seconds if seconds > 0 else 0.0,
        p50_ms=percentiles.get(50),
        p95_ms=percentiles.get(95),
        p99_ms=percentiles.get(99),
        mean_ms=float(average.group(1)) * 1e3 if average else None,
        status_codes=status_codes,
        error_messages=[f"{count}× {message}" for count, message in error_counts[:5]],
    )


def parse_wrk(output: str, concurrency: int) -> LoadResult:
    """The JSON summary line that `WRK_SCRIPT` prints at the end of a `wrk` run, as a LoadResult (wrk counts a
    status of 400 or more as an error of its own and reports no other status breakdown)."""
    line = next((line for line in reversed(output.splitlines()) if line.startswith("{")), None)
    if line is None:
        raise ValueError(f"not a wrk summary:\n{output[:500]}")
    summary = json.loads(line)
    seconds = summary["duration_us"] / 1e6
    responses, failed = summary["requests"], summary["status_errors"]
    errors = {kind: summary[kind] for kind in WRK_SOCKET_ERRORS if summary[kind]}
    ok = responses - failed
    return LoadResult(
        concurrency=concurrency,
        seconds=seconds,
        requests=responses + sum(errors.values()),
        ok=ok,
        non_2xx=failed,
        errors=sum(errors.values()),
        requests_per_s=responses / seconds if seconds > 0 else 0.0,
        ok_per_s=ok / seconds if seconds > 0 else 0.0,
        p50_ms=summary["p50_us"] / 1e3,
        p95_ms=summary["p95_us"] / 1e3,
        p99_ms=summary["p99_us"] / 1e3,
        mean_ms=summary["mean_us"] / 1e3,
        status_codes={label: count for label, count in (("< 400", ok), (">= 400", failed)) if count},
        error_messages=[f"{count}× socket {kind} errors" for kind, count in errors.items()],
    )


def hey_available() -> bool:
    """Whether the `hey` load generator is on PATH."""
    return shutil.which("hey") is not None


def wrk_available() -> bool:
    """Whether the `wrk` load generator is on PATH."""
    return shutil.which("wrk") is not None


def run_hey(port: int, workload: Workload, *, concurrency: int, seconds: float, cpus: Sequence[int]) -> LoadResult:
    """POST the workload's body with `concurrency` keep-alive workers for `seconds`, the generator pinned to `cpus`
    (callers check `hey_available` first)."""
    load = ["-z", f"{max(seconds, 0.1):.1f}s", "-c", str(concurrency), "-t", "60", "-cpus", str(max(len(cpus), 1))]
    body = ["-m", "POST", "-T", workload.content_type, "-D", str(workload.body_file)]
    argv = ["hey", *load, *body, f"http://{HOST}:{port}{workload.path}"]
    return _generate(argv, cpus, seconds, lambda output: parse_hey(output, concurrency))


def wrk_seconds(seconds: float) -> int:
    """How long `run_wrk` loads for ``seconds``: wrk takes whole seconds, at least one."""
    return max(round(seconds), 1)


def run_wrk(port: int, workload: Workload, *, concurrency: int, seconds: float, cpus: Sequence[int]) -> LoadResult:
    """`run_hey` with `wrk`: one thread, `concurrency` keep-alive connections, whole seconds (at least one; callers
    check `wrk_available` first)."""
    load = ["-t", "1", "-c", str(concurrency), "-d", f"{wrk_seconds(seconds)}s", "--timeout", "60s"]
    url = f"http://{HOST}:{port}{workload.path}"
    argv = ["wrk", *load, "-s", str(WRK_SCRIPT), url, "--", str(workload.body_file), workload.content_type]
    return _generate(argv, cpus, seconds, lambda output: parse_wrk(output, concurrency))


def _generate(argv: list[str], cpus: Sequence[int], seconds: float, parse: Callable[[str], LoadResult]) -> LoadResult:
    """Run one load generator pinned to `cpus`; its result with the CPU it spent."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(pinned(argv, cpus), capture_output=True, text=True, timeout=seconds + 120, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({completed.returncode}): {completed.stderr.strip()[:500]}")
    result = parse(completed.stdout)
    # Only the generator was reaped in between (servers are still running), so the children's usage delta is its.
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return replace(result, load_generator_cpu_cores=used / result.seconds if result.seconds else None)
