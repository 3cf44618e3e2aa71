"""Server processes for the benchmarks, the reliability run and the tests: start one on a free loopback port, hand it
out once `/ready` answers 200, stop it; its memory and CPU time from /proc."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.config import MODELS_DIR, PROJECT_ROOT

HOST = "127.0.0.1"
POLL_INTERVAL_SECONDS = 0.01
STOP_TIMEOUT_SECONDS = 20.0
READY_TIMEOUT_SECONDS = 180.0
SERVICE_ENV_PREFIX = "CIFAR10_"


class ServerStartError(RuntimeError):
    """A server process exited or never became ready; the message carries the tail of its log."""


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: its command (with `{port}` placeholders) and environment."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


def service_spec(
    model: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    name: str = "service",
    description: str = "",
    models_dir: Path = MODELS_DIR,
) -> ServerSpec:
    """This service on `model` (fp32, int8 or a path), its defaults overridden by `env`; no lame-duck window unless
    `env` asks for one (a harness has no load balancer to wait for)."""
    return ServerSpec(
        name=name,
        argv=(sys.executable, "-m", "service", "--host", HOST, "--port", "{port}", "--model", str(model)),
        env={f"{SERVICE_ENV_PREFIX}MODELS_DIR": str(models_dir), f"{SERVICE_ENV_PREFIX}DRAIN_S": "0", **(env or {})},
        description=description,
    )


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
    with contextlib.closing(http.client.HTTPConnection(HOST, port, timeout=timeout)) as connection:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()


class RunningServer:
    """A server process started from `spec`, its output in `log_dir/<name>-<port>.log`; as a context manager, handed
    out ready (else ServerStartError) and always stopped after."""

    def __init__(self, spec: ServerSpec, log_dir: Path, cpus: Sequence[int] = ()) -> None:
        self.spec = spec
        self.port = free_port()
        self.host_port = f"{HOST}:{self.port}"  # as clients that take no scheme want it
        self.url = f"http://{self.host_port}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.name}-{self.port}.log"
        argv = [part.format(port=self.port) for part in spec.argv]
        # The caller's CIFAR10_* variables must not leak into a server: each spec says what it runs with.
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(SERVICE_ENV_PREFIX)}
        self.started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                pinned(argv, cpus),
                cwd=PROJECT_ROOT,
                env={**inherited, **spec.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.ready_seconds: float | None = None

    def __enter__(self) -> RunningServer:
        try:
            self.ready_seconds = self.wait_for_200("GET", "/ready")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return read_or_empty(self.log_path)

    def wait_for_200(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = READY_TIMEOUT_SECONDS,
        request_timeout: float = 1.0,
    ) -> float:
        """Seconds from process start until `method path` first answers 200, else ServerStartError (the log's end)."""
        deadline = self.started + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                status, _ = request(self.port, method, path, body=body, headers=headers, timeout=request_timeout)
            except OSError:
                status = 0
            if status == 200:
                return time.monotonic() - self.started
            time.sleep(POLL_INTERVAL_SECONDS)
        code = self.process.poll()
        failure = f"exited with {code}" if code is not None else f"{method} {path} no 200 after {timeout:.0f} s"
        tail = "\n".join(self.log_text().splitlines()[-20:])
        raise ServerStartError(f"{self.spec.name} {failure}:\n{tail}")

    def memory(self) -> dict[str, float]:
        """Resident memory of the server and all its descendants (MiB), and the summed peaks."""
        return process_tree_memory(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and all its live descendants."""
        return sum(cpu_seconds_of(each) for each in (self.pid, *descendants(self.pid)))

    def stop(self) -> None:
        """SIGTERM (the service drains in-flight requests), then SIGKILL to its process group if it lingers."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def read_or_empty(path: Path) -> str:
    """The text of a file, or nothing if it cannot be read (a /proc file of a process that is gone)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """Process ids of every child, grandchild, … of `pid` (from /proc/<pid>/task/*/children)."""
    tasks = Path(f"/proc/{pid}/task").glob("*/children")
    children = [int(child) for task in tasks for child in read_or_empty(task).split()]
    return [*children, *(grandchild for child in children for grandchild in descendants(child))]


def proc_value(path: str, key: str) -> str | None:
    """The value after `key:` in a /proc text file (status, meminfo, cpuinfo), if it is there."""
    for line in read_or_empty(Path(path)).splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def status_kib(pid: int, key: str) -> int:
    """A `kB` field (VmRSS, VmHWM) from /proc/<pid>/status, or 0 if the process is gone."""
    return int((proc_value(f"/proc/{pid}/status", key) or "0 kB").split()[0])


def process_tree_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM summed over `pid` and its descendants, in MiB, with the process count."""
    pids = [pid, *descendants(pid)]  # `taskset` execs the command: the pid is the server itself
    return {
        "rss_mib": sum(status_kib(each, "VmRSS") for each in pids) / 1024,
        "peak_rss_mib": sum(status_kib(each, "VmHWM") for each in pids) / 1024,
        "processes": len(pids),
    }


def cpu_seconds_of(pid: int) -> float:
    """utime + stime of one process from /proc/<pid>/stat, in seconds (0 if it is gone)."""
    # Fields after the parenthesised command name: state is field 3, utime 14 and stime 15 (1-based).
    fields = read_or_empty(Path(f"/proc/{pid}/stat")).rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if len(fields) > 12 else 0.0
