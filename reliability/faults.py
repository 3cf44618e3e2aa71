"""Start-up faults: start ``python -m service`` on a broken model file and watch it refuse, with one clear line,
a non-zero exit and readiness never green."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from benchmarks.config import PROJECT_ROOT
from benchmarks.processes import HOST, RunningServer, service_spec
from reliability.client import HttpRequest, send

FAULT_TIMEOUT_S: Final = 60.0


def one_clear_line(stderr_lines: Sequence[str]) -> bool:
    """Exactly one stderr line: a JSON error record saying it cannot start, without a traceback."""
    if len(stderr_lines) != 1:
        return False
    try:
        record = json.loads(stderr_lines[0])
    except json.JSONDecodeError:
        return False
    message = str(record.get("message", ""))
    return record.get("level") == "error" and message.startswith("cannot start") and "traceback" not in record


def start_with_model(name: str, model: Path, log_dir: Path) -> dict[str, Any]:
    """Start the service on ``model``, probe /ready until it exits, and describe what happened; ``survived``:
    refused as documented (non-zero exit, one clear line, never ready)."""
    # Not entered as a context manager, which would wait for a readiness that must never come.
    server = RunningServer(service_spec(model, name=name), log_dir)
    probes, ready = 0, False
    try:
        while server.process.poll() is None and time.monotonic() - server.started < FAULT_TIMEOUT_S:
            answer = send(HOST, server.port, HttpRequest("GET", "/ready"), timeout=2.0)
            probes += 1
            ready = ready or answer.status == 200
            time.sleep(0.02)
    finally:
        server.stop()
    # The service logs to stderr only, so the log (stdout and stderr) holds exactly its stderr lines. Paths in
    # them are made relative to the project, so a committed report names no folder of this machine.
    lines = [line.replace(f"{PROJECT_ROOT}/", "") for line in server.log_text().splitlines() if line.strip()]
    exit_code = server.process.returncode
    return {
        "name": name,
        "exit_code": exit_code,
        "seconds": round(time.monotonic() - server.started, 3),
        "stderr_lines": lines,
        "ready_probes": probes,
        "ready_ever_200": ready,
        "one_clear_line": one_clear_line(lines),
        "survived": exit_code not in (0, None) and one_clear_line(lines) and not ready,
    }


def start_with_models(models: Mapping[str, Path], log_dir: Path) -> list[dict[str, Any]]:
    """Run :func:`start_with_model` for every named model, in parallel."""
    with ThreadPoolExecutor(max_workers=max(1, len(models))) as pool:
        futures = [pool.submit(start_with_model, name, path, log_dir) for name, path in models.items()]
        return [future.result() for future in futures]


def broken_models(directory: Path, real_model: Path) -> dict[str, Path]:
    """Broken model files that need no ONNX tooling: missing, empty, garbage, truncated, a directory, and a
    valid model that is not the one its folder's manifest.json records (swapped after the export)."""
    directory.mkdir(parents=True, exist_ok=True)
    content = real_model.read_bytes()
    files = {
        "missing-file": directory / "absent.onnx",
        "empty-file": directory / "empty.onnx",
        "garbage-bytes": directory / "garbage.onnx",
        "truncated-model": directory / "truncated.onnx",
        "directory": directory / "a-directory.onnx",
        "manifest-mismatch": directory / "swapped" / "cifar10_cnn.onnx",
    }
    files["empty-file"].write_bytes(b"")
    files["garbage-bytes"].write_bytes(bytes(range(256)) * 64)
    files["truncated-model"].write_bytes(content[: len(content) // 2])
    files["directory"].mkdir(exist_ok=True)
    swapped = files["manifest-mismatch"]
    swapped.parent.mkdir(exist_ok=True)
    swapped.write_bytes(content)
    manifest = {"artifacts": [{"path": swapped.name, "sha256": hashlib.sha256(b"the exported model").hexdigest()}]}
    (swapped.parent / "manifest.json").write_text(json.dumps(manifest))
    return files
