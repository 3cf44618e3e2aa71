"""Where the CPU goes under load: the service's own stage timers (CPU µs per request, stage by stage, against the
no-op ceiling's whole request), and py-spy samples of the server during a `hey` run at the target concurrency."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.context import CEILING, CEILING_SPEC, BenchContext
from benchmarks.load import hey_available
from benchmarks.processes import RunningServer, cpu_seconds_of, pinned, request
from benchmarks.targets import TARGET_CONCURRENCY

SAMPLE_RATE_HZ = 200
TOP = 12
# Where a sampled stack's time goes. First the specific kinds of work, matched anywhere in the stack in
# this order (work inside the multipart parser is parsing, whatever its innermost frame); a stack with
# none of them goes to the layer of its innermost recognised frame (so an endpoint's own code counts to
# the service, not to the Starlette router that called it). The last field marks the buckets the no-op
# ceiling has too: the framework's own part of a request.
Bucket = tuple[str, tuple[str, ...], bool]
WORK: tuple[Bucket, ...] = (
    ("inference (onnxruntime)", ("onnxruntime/",), False),
    ("image decode + resize (Pillow)", ("PIL/", "service/preprocessing.py"), False),
    ("multipart parsing", ("python_multipart/", "starlette/formparsers.py"), True),
    ("JSON encode/decode", ("json/",), True),
    ("metrics (prometheus_client)", ("prometheus_client/",), False),
    ("request id / logging", ("uuid.py", "logging/"), False),
    ("batching hand-off (threads, futures)", ("concurrent/futures/", "threading.py", "service/batching.py"), False),
)
LAYERS: tuple[Bucket, ...] = (
    ("other service code", ("service/", "benchmarks/"), False),
    ("Starlette routing, middleware, responses", ("starlette/",), True),
    ("HTTP protocol (uvicorn + httptools)", ("uvicorn/protocols/", "httptools/"), True),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop/", "uvicorn/", "selectors.py"), True),
)
FRAMEWORK_BUCKETS = frozenset(label for label, _, framework in (*WORK, *LAYERS) if framework)
STAGE_WORKLOADS = ("multipart", "raw")
PUBLISH_WAIT_S = 0.3  # the service publishes its stage counters every 0.1 s
_STAGE_LINE = re.compile(r'^cifar10_stage_seconds_total\{stage="(?P<stage>\w+)"\} (?P<seconds>\S+)$', re.M)
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def split_frame(frame: str) -> tuple[str, str]:
    """(function, file) of a py-spy frame like `predict (service/endpoints.py:134)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), frame.strip()
    return match.group("function"), match.group("file")


def bucket_of(files: list[str]) -> str:
    """The kind of work a stack (files from outermost to innermost frame) is doing."""
    for label, patterns, _ in WORK:
        if any(pattern in file for file in files for pattern in patterns):
            return label
    for file in reversed(files):
        for label, patterns, _ in LAYERS:
            if any(pattern in file for pattern in patterns):
                return label
    return "other"


def aggregate(collapsed: str, top: int = TOP) -> dict[str, Any]:
    """Shares of samples per thread, per bucket of work, and per file of the innermost Python frame (self time)."""
    threads: Counter[str] = Counter()
    self_by_file: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = "all"
        if frames[0].startswith("thread ("):
            thread = frames[0].split(":", 1)[-1].strip() or frames[0]
            frames = frames[1:]
        if not frames:
            continue
        total += count
        threads[thread] += count
        files = [split_frame(frame)[1] for frame in frames]
        self_by_file[files[-1]] += count
        buckets[bucket_of(files)] += count

    def shares(counter: Counter[str], key: str) -> list[dict[str, Any]]:
        return [{key: name, "share": count / total} for name, count in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "threads": shares(threads, "thread"),
        "buckets": shares(buckets, "bucket"),
        "self_by_file": shares(self_by_file, "file"),
    }


def stage_seconds(server: RunningServer) -> dict[str, float]:
    """The service's ``cifar10_stage_seconds_total`` counters, by stage (none for the ceiling: it has no timers)."""
    if server.spec.name == CEILING:
        return {}
    status, body = request(server.port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    return {match["stage"]: float(match["seconds"]) for match in _STAGE_LINE.finditer(body.decode())}


def stage_costs(context: BenchContext, server: RunningServer) -> dict[str, Any]:
    """CPU µs per request of the whole server process and (for this service) of each stage of its request path,
    under `hey` at the target concurrency, per workload."""
    measured: dict[str, Any] = {}
    for name in STAGE_WORKLOADS:
        workload = context.workloads[name]
        context.hey(server, workload, TARGET_CONCURRENCY, context.plan.http_warmup_seconds)
        time.sleep(PUBLISH_WAIT_S)
        before = stage_seconds(server)
        cpu_before = cpu_seconds_of(server.pid)
        load = context.hey(server, workload, TARGET_CONCURRENCY, context.plan.http_seconds)
        cpu_after = cpu_seconds_of(server.pid)
        time.sleep(PUBLISH_WAIT_S)
        after = stage_seconds(server)
        requests = max(load.ok, 1)
        measured[name] = {
            "requests": load.ok,
            "requests_per_s": load.ok_per_s,
            "server_cpu_us": (cpu_after - cpu_before) / requests * 1e6,
            "stages_us": {stage: (after[stage] - before.get(stage, 0.0)) / requests * 1e6 for stage in after},
        }
    return measured


def run(context: BenchContext) -> dict[str, Any]:
    """The stage table, then a py-spy profile of this service and the ceiling under load at the target
    concurrency (the profile is skipped without py-spy, everything without hey)."""
    if not hey_available():
        return {"skipped": "hey not installed (make system-deps)"}
    notes: dict[str, str] = {}
    specs = (context.service(), CEILING_SPEC)
    stages = context.each_server(specs, lambda server: stage_costs(context, server), notes)
    beside_python = Path(sys.executable).parent / "py-spy"  # in the virtualenv, else on PATH
    executable = str(beside_python) if beside_python.is_file() else shutil.which("py-spy")
    if executable is None:
        return {"stages": stages, "skipped": "py-spy not installed (pip install '.[bench]')", "notes": notes}
    plan, workload = context.plan, context.workloads["multipart"]
    duration = max(1, int(max(plan.http_seconds, 2.0)) - 1)

    def profile(server: RunningServer) -> dict[str, Any]:
        """Record py-spy samples of the server (non-blocking) while `hey` loads it, both on the load CPU."""
        context.hey(server, workload, TARGET_CONCURRENCY, plan.http_warmup_seconds)
        output = context.work_dir / f"{server.spec.name}.pyspy.txt"
        sampling = ["--nonblocking", "--threads", "--rate", str(SAMPLE_RATE_HZ), "--duration", str(duration)]
        argv = [executable, "record", *sampling, "--format", "raw", "--output", str(output), "--pid", str(server.pid)]
        recorder = subprocess.Popen(
            pinned(argv, context.load_cpus), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        load = context.hey(server, workload, TARGET_CONCURRENCY, duration + 1.0)
        _, errors = recorder.communicate(timeout=60)
        if recorder.returncode != 0 or not output.is_file():
            raise RuntimeError(f"py-spy failed ({recorder.returncode}): {errors.strip()[-300:]}")
        result = {"requests_per_s_while_profiled": load.ok_per_s, **aggregate(output.read_text())}
        top = ", ".join(f"{item['bucket']} {item['share']:.0%}" for item in result["buckets"][:5])
        context.progress("profile", f"{server.spec.name}: {result['samples']} samples; {top}")
        return result

    return {
        "stages": stages,
        "tool": "py-spy record --nonblocking (Python frames only; time in C extensions counts to the calling frame)",
        "concurrency": TARGET_CONCURRENCY,
        "rate_hz": SAMPLE_RATE_HZ,
        "servers": context.each_server(specs, profile, notes),
        "notes": notes,
    }
