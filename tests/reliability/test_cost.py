"""The attack catalogue against a real server with the default settings on one core: each attack gets its
documented answer within the targets (the concurrent /predict's latency, the peak memory, the time to answer),
idle memory comes back, and SIGTERM under keep-alive load leaves no request unanswered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.config import split_cpus
from benchmarks.processes import HOST, RunningServer, service_spec, status_kib
from reliability.attacks import build_attacks
from reliability.catalogue import jpeg_request
from reliability.client import send
from reliability.cost import (
    IDLE_S,
    KIB_PER_MIB,
    MAX_IDLE_GROWTH_MIB,
    MAX_PEAK_GROWTH_MIB,
    MAX_PROBE_MS,
    MAX_SECONDS,
    client_pinned,
    measure,
    wait_until_idle,
)
from reliability.stress import sigterm_under_load
from service.settings import Settings
from tests.deploy.manifests import RESIDENT_AT_REST_MIB

pytestmark = [pytest.mark.server, pytest.mark.slow]

ATTACKS = {attack.name: attack for attack in build_attacks(Settings())}


@pytest.fixture(scope="module")
def warm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    """The server on the committed model, warmed up, and its resident memory (kB) then."""
    spec = service_spec("fp32", name="attacks")
    server_cpus, client_cpus = split_cpus()
    with client_pinned(client_cpus), RunningServer(spec, tmp_path_factory.mktemp("cost"), cpus=server_cpus) as running:
        for _ in range(20):
            send(HOST, running.port, jpeg_request())
        yield running, status_kib(running.pid, "VmRSS")


def test_resident_memory_at_rest_is_what_the_pod_arithmetic_assumes(warm_server: tuple[RunningServer, int]) -> None:
    assert warm_server[1] / KIB_PER_MIB <= RESIDENT_AT_REST_MIB


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_costs_no_more_than_the_targets(warm_server: tuple[RunningServer, int], name: str) -> None:
    case = measure(warm_server[0], ATTACKS[name], jpeg_request())
    assert case["ok"], case
    assert not case["probe_failures"], case
    assert case["probe_worst_ms"] <= MAX_PROBE_MS, case
    assert case["peak_rss_growth_mib"] <= MAX_PEAK_GROWTH_MIB, case
    assert case["client_paced"] or case["seconds"] <= MAX_SECONDS, case


def test_resident_memory_comes_back_after_the_catalogue(warm_server: tuple[RunningServer, int]) -> None:
    server, rested_kib = warm_server
    wait_until_idle(server.port)
    time.sleep(IDLE_S)
    assert (status_kib(server.pid, "VmRSS") - rested_kib) / KIB_PER_MIB <= MAX_IDLE_GROWTH_MIB


def test_sigterm_under_keep_alive_load_leaves_nothing_unanswered(tiny_model_path: Path, tmp_path: Path) -> None:
    environ = {"CIFAR10_DRAIN_S": str(Settings().drain_s)}
    with client_pinned(split_cpus()[1]), RunningServer(service_spec(tiny_model_path, environ), tmp_path) as running:
        result = sigterm_under_load(running, jpeg_request(), clients=32, keep_alive=True)
    assert result["clean"] and result["unanswered"] == 0, result
