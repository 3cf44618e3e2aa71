"""The settings-to-pipeline translations that are decisions of their own."""

from __future__ import annotations

import pytest

from service.pipeline import batch_wait_s, batches_on_loop
from service.settings import Settings


@pytest.mark.parametrize(
    ("cpus", "workers", "expected"),
    [(1, 1, True), (2, 1, False), (2, 2, True), (3, 2, True), (4, 2, False), (64, 1, False)],
)
def test_auto_runs_batches_on_the_loop_when_a_worker_has_under_two_cpus(
    cpus: int, workers: int, expected: bool
) -> None:
    assert batches_on_loop(Settings(workers=workers), cpus=lambda: cpus) is expected


@pytest.mark.parametrize(("choice", "expected"), [("always", False), ("never", True)])
def test_an_explicit_choice_wins_over_the_cpu_count(choice: str, expected: bool) -> None:
    settings = Settings.from_environ({"CIFAR10_INFERENCE_THREAD": choice})
    assert batches_on_loop(settings, cpus=lambda: 1) is expected
    assert batches_on_loop(settings, cpus=lambda: 64) is expected


@pytest.mark.parametrize(("on_loop", "expected_s"), [(True, 0.002), (False, 0.0)])
def test_an_auto_batch_wait_waits_only_where_batches_run_on_the_loop(on_loop: bool, expected_s: float) -> None:
    settings = Settings()
    assert settings.max_batch_wait_ms == "auto"  # the default
    assert batch_wait_s(settings, on_loop) == expected_s


@pytest.mark.parametrize("on_loop", [True, False])
def test_a_number_of_milliseconds_is_the_wait_wherever_batches_run(on_loop: bool) -> None:
    assert batch_wait_s(Settings.from_environ({"CIFAR10_MAX_BATCH_WAIT_MS": "5"}), on_loop) == 0.005
    assert batch_wait_s(Settings.from_environ({"CIFAR10_MAX_BATCH_WAIT_MS": "0"}), on_loop) == 0.0


@pytest.mark.parametrize("on_loop", [True, False])
def test_with_batching_off_nothing_waits(on_loop: bool) -> None:
    settings = Settings.from_environ({"CIFAR10_BATCHING": "false", "CIFAR10_MAX_BATCH_WAIT_MS": "5"})
    assert batch_wait_s(settings, on_loop) == 0.0
