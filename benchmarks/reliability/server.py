"""Run ``python -m service`` in a subprocess on a free loopback port, with its log in a file and its memory in /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.reliability.client import HttpRequest, send
from benchmarks.reliability.faults import PROJECT_ROOT, free_port

READY_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class ServiceProcess:
    """A started service: its port, process and log file."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def memory_kib(self, key: str = "VmRSS") -> int:
        """``VmRSS`` (resident now) or ``VmHWM`` (peak) of the server process, in kB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)


@contextmanager
def service_process(model: str, log: Path, environ: Mapping[str, str] | None = None) -> Iterator[ServiceProcess]:
    """Start the service on ``model`` (fp32, int8 or a path), wait for /ready, SIGTERM it afterwards."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CIFAR10_")}
    env.update(environ or {})
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--model", model]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    running = ServiceProcess(port, process, log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while send("127.0.0.1", port, HttpRequest("GET", "/ready"), timeout=2).status != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not become ready:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
