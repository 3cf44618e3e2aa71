"""Run the real service (``python -m service``) in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


@dataclass
class RunningServer:
    """A started server: its base URL, port, process and log file."""

    url: str
    host_port: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log.read_text(errors="replace")


def free_port() -> int:
    """A free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_server(model: str | Path, log: Path, environ: Mapping[str, str] | None = None) -> Iterator[RunningServer]:
    """Start ``python -m service`` on a free port, wait for /ready, stop it with SIGTERM afterwards."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CIFAR10_")}
    env.update(environ or {})
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--model", str(model)]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = RunningServer(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", port, process, log)
    try:
        wait_until_ready(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(server: RunningServer) -> None:
    """Poll /ready until 200; raise with the server log if the process dies or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not ready after {START_TIMEOUT_S} s:\n{server.log_text()}")
