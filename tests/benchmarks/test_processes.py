"""Tests for benchmarks.processes: memory of a process tree, CPU pinning, a real server's life cycle."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.context import CEILING_SPEC
from benchmarks.processes import (
    RunningServer,
    ServerSpec,
    ServerStartError,
    descendants,
    pinned,
    process_tree_memory,
    request,
    service_spec,
)


def test_memory_of_this_process_is_positive_and_peak_is_at_least_current() -> None:
    memory = process_tree_memory(os.getpid())
    assert memory["rss_mib"] > 1
    assert memory["peak_rss_mib"] >= memory["rss_mib"]


def test_descendants_include_a_child_and_memory_sums_it() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 5
        while child.pid not in descendants(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.pid in descendants(os.getpid())
        alone = process_tree_memory(child.pid)
        assert process_tree_memory(os.getpid())["processes"] >= 2
        assert alone["processes"] == 1
    finally:
        child.kill()
        child.wait()


def test_pinned_prefixes_taskset_only_when_cpus_are_given() -> None:
    assert pinned(["hey"], []) == ["hey"]
    command = pinned(["hey", "-c", "1"], [1, 3])
    assert command[-3:] == ["hey", "-c", "1"]
    if command[0] == "taskset":
        assert command[1:3] == ["-c", "1,3"]


@pytest.mark.server
def test_ceiling_server_starts_answers_and_stops(tmp_path: Path) -> None:
    with RunningServer(CEILING_SPEC, tmp_path) as server:
        assert server.ready_seconds is not None and 0 < server.ready_seconds < 60
        assert server.memory()["rss_mib"] > 10
        process = server.process
    assert process.poll() is not None


@pytest.mark.server
def test_the_service_is_ready_at_its_url_logs_to_its_file_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with RunningServer(service_spec("fp32", {"CIFAR10_LOG_LEVEL": "info"}), tmp_path) as server:
        status, _ = request(server.port, "GET", "/ready")
        assert status == 200 and server.url == f"http://{server.host_port}"
        assert server.log_path.parent == tmp_path and server.log_text()
    assert server.process.returncode == 0  # SIGTERM: drained and exited cleanly


@pytest.mark.server
def test_a_server_that_exits_reports_its_log(tmp_path: Path) -> None:
    spec = ServerSpec(name="broken", argv=(sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"))
    with pytest.raises(ServerStartError, match=r"(?s)exited with 3.*boom"), RunningServer(spec, tmp_path):
        pass
