"""Start-up faults: start ``python -m service`` on a broken model file and watch it refuse, with one clear line,
a non-zero exit and readiness never green."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.config import PROJECT_ROOT
from benchmarks.processes import HOST, RunningServer, service_spec
from reliability.client import HttpRequest, send

FAULT_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class StartupFault:
    """How the service reacted to one broken model."""

    name: str
    exit_code: int | None
    seconds: float
    stderr_lines: tuple[str, ...]
    ready_probes: int
    ready_ever_200: bool

    @property
    def one_clear_line(self) -> bool:
        """Exactly one stderr line: a JSON error record saying it cannot start, without a traceback."""
        if len(self.stderr_lines) != 1:
            return False
        try:
            record = json.loads(self.stderr_lines[0])
        except json.JSONDecodeError:
            return False
        message = str(record.get("message", ""))
        return record.get("level") == "error" and message.startswith("cannot start") and "traceback" not in record

    @property
    def survived(self) -> bool:
        """Refused as documented: non-zero exit, one clear line, never ready."""
        return self.exit_code not in (0, None) and self.one_clear_line and not self.ready_ever_200

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived verdicts."""
        return {**asdict(self), "one_clear_line": self.one_clear_line, "survived": self.survived}


def start_with_model(name: str, model: Path, log_dir: Path) -> StartupFault:
    """Start the service on ``model``, probe /ready until it exits, and describe what happened."""
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
    lines = tuple(line.replace(f"{PROJECT_ROOT}/", "") for line in server.log_text().splitlines() if line.strip())
    seconds = round(time.monotonic() - server.started, 3)
    return StartupFault(name, server.process.returncode, seconds, lines, probes, ready)


def start_with_models(models: Mapping[str, Path], log_dir: Path) -> list[StartupFault]:
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
