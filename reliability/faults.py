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
    try:
        (record,) = [json.loads(line) for line in stderr_lines]
    except ValueError:  # not one line, or not JSON
        return False
    message = str(record.get("message", ""))
    return record.get("level") == "error" and message.startswith("cannot start") and "traceback" not in record


def start_with_model(name: str, model: Path, log_dir: Path) -> dict[str, Any]:
    """Start the service on ``model`` and probe /ready until it exits; ``survived``: refused as documented."""
    # Not entered as a context manager, which would wait for a readiness that must never come.
    server = RunningServer(service_spec(model, name=name), log_dir)
    probes, ready = 0, False
    try:
        while server.process.poll() is None and time.monotonic() - server.started < FAULT_TIMEOUT_S:
            ready = send(HOST, server.port, HttpRequest("GET", "/ready"), timeout=2.0).status == 200 or ready
            probes += 1
            time.sleep(0.02)
    finally:
        server.stop()
    # The log holds exactly the service's stderr lines (it logs nowhere else); paths in them are made relative to
    # the project, so a committed report names no folder of this machine.
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
        return list(pool.map(start_with_model, models, models.values(), [log_dir] * len(models)))


def broken_models(directory: Path, real_model: Path) -> dict[str, Path]:
    """Broken models that need no ONNX tooling, and a valid one that its folder's manifest.json does not record."""
    content = real_model.read_bytes()
    (directory / "swapped").mkdir(parents=True, exist_ok=True)
    (directory / "a-directory.onnx").mkdir(exist_ok=True)
    files: dict[str, tuple[str, bytes | None]] = {  # the name, and what to write (None: nothing)
        "missing-file": ("absent.onnx", None),
        "empty-file": ("empty.onnx", b""),
        "garbage-bytes": ("garbage.onnx", bytes(range(256)) * 64),
        "truncated-model": ("truncated.onnx", content[: len(content) // 2]),
        "directory": ("a-directory.onnx", None),
        "manifest-mismatch": ("swapped/cifar10_cnn.onnx", content),
    }
    for file, data in files.values():
        if data is not None:
            (directory / file).write_bytes(data)
    recorded = {"path": "cifar10_cnn.onnx", "sha256": hashlib.sha256(b"the exported model").hexdigest()}
    (directory / "swapped" / "manifest.json").write_text(json.dumps({"artifacts": [recorded]}))
    return {name: directory / file for name, (file, _) in files.items()}
