"""Load generation with `hey` (Debian package `hey`), its summary parsed into figures."""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from benchmarks.inputs import Workload
from benchmarks.processes import HOST, pinned


@dataclass(frozen=True)
class LoadResult:
    """What one `hey` run measured (latencies in ms; errors are transport failures)."""

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


def hey_available() -> bool:
    """Whether the `hey` load generator is on PATH."""
    return shutil.which("hey") is not None


def run_hey(port: int, workload: Workload, *, concurrency: int, seconds: float, cpus: Sequence[int]) -> LoadResult:
    """POST the workload's body with `concurrency` keep-alive workers for `seconds`, the generator pinned to `cpus`
    (callers check `hey_available` first)."""
    load = ["-z", f"{max(seconds, 0.1):.1f}s", "-c", str(concurrency), "-t", "60", "-cpus", str(max(len(cpus), 1))]
    body = ["-m", "POST", "-T", workload.content_type, "-D", str(workload.body_file)]
    argv = ["hey", *load, *body, f"http://{HOST}:{port}{workload.path}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(pinned(argv, cpus), capture_output=True, text=True, timeout=seconds + 120, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"hey failed ({completed.returncode}): {completed.stderr.strip()[:500]}")
    result = parse_hey(completed.stdout, concurrency)
    # Only hey was reaped in between (servers are still running), so the children's usage delta is hey's.
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return replace(result, load_generator_cpu_cores=used / result.seconds if result.seconds else None)
