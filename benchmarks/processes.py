"""Server processes for the HTTP benchmarks: start pinned to CPUs, wait for readiness, measure memory, stop."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
POLL_INTERVAL_SECONDS = 0.01
STOP_TIMEOUT_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 180.0
SERVICE_ENV_PREFIX = "CIFAR10_"


class ServerStartError(RuntimeError):
    """A server process exited or never became ready; the message carries the tail of its log."""


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: its command (with `{port}` placeholders), environment and readiness route."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str = "/ready"
    description: str = ""


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pinned(argv: Sequence[str], cpus: Sequence[int]) -> list[str]:
    """The command prefixed with `taskset` so it (and every thread and child it starts) runs on `cpus`."""
    if not cpus or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", ",".join(str(cpu) for cpu in cpus), *argv]


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One HTTP request to the loopback server; returns (status, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class RunningServer:
    """A started server process; use as a context manager so it is always stopped."""

    def __init__(self, spec: ServerSpec, cpus: Sequence[int], log_dir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.name}-{self.port}.log"
        argv = [part.format(port=self.port) for part in spec.argv]
        # The caller's CIFAR10_* variables must not leak into a measured server: each spec says what it runs with.
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(SERVICE_ENV_PREFIX)}
        environment = {**inherited, **spec.env}
        self.started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                pinned(argv, cpus), env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> float:
        """Seconds from process start until the readiness route first answers 200."""
        return self._wait_for_200("GET", self.spec.ready_path, None, {}, timeout, request_timeout=1.0)

    def wait_first_success(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str], timeout: float = READY_TIMEOUT_SECONDS
    ) -> float:
        """Seconds from process start until `method path` first answers 200."""
        return self._wait_for_200(method, path, body, headers, timeout, request_timeout=timeout)

    def _wait_for_200(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
        *,
        request_timeout: float,
    ) -> float:
        """Poll until `method path` answers 200; raise ServerStartError with the log if the process exits first."""
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"{self.spec.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status, _ = request(self.port, method, path, body=body, headers=headers, timeout=request_timeout)
            except OSError:
                status = 0
            if status == 200:
                return time.monotonic() - self.started
            time.sleep(POLL_INTERVAL_SECONDS)
        raise ServerStartError(f"{self.spec.name}: {method} {path} no 200 after {timeout:.0f} s:\n{self.log_tail()}")

    def memory(self) -> dict[str, float]:
        """Resident memory of the server and all its descendants (MiB), and the summed peaks."""
        return process_tree_memory(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and all its descendants."""
        return process_tree_cpu_seconds(self.pid)

    def stop(self) -> None:
        """Ask the server to shut down (SIGINT, like Ctrl-C), then kill its process group if it lingers."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def descendants(pid: int) -> list[int]:
    """Process ids of every child, grandchild, … of `pid` (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in children:
                found.append(int(child))
                pending.append(int(child))
    return found


def status_kib(pid: int, key: str) -> int:
    """A `kB` field (VmRSS, VmHWM) from /proc/<pid>/status, or 0 if the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def process_tree_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM summed over `pid` and its descendants, in MiB, with the process count."""
    pids = [pid, *descendants(pid)]
    # `taskset` execs the command, so the pid is the server itself, not a wrapper.
    return {
        "rss_mib": sum(status_kib(each, "VmRSS") for each in pids) / 1024,
        "peak_rss_mib": sum(status_kib(each, "VmHWM") for each in pids) / 1024,
        "processes": len(pids),
    }


def cpu_seconds_of(pid: int) -> float:
    """utime + stime of one process from /proc/<pid>/stat, in seconds (0 if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the parenthesised command name: state is field 3, utime 14 and stime 15 (1-based).
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by `pid` and its live descendants."""
    return sum(cpu_seconds_of(each) for each in (pid, *descendants(pid)))
