"""What every benchmark section runs with: the plan, progress, the CPU split, the test inputs, started servers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from benchmarks.config import BenchPlan, available_cpus, split_cpus
from benchmarks.inputs import TestImage, Workload, read_test_images, write_workloads
from benchmarks.load import LoadResult, run_hey
from benchmarks.processes import RunningServer, ServerSpec
from benchmarks.progress import Progress
from benchmarks.servers import compared_specs

TEST_IMAGES = 16
Measured = TypeVar("Measured")


class BenchContext:
    """One run's plan and progress; servers pinned to every CPU but the last, which drives the load."""

    def __init__(self, plan: BenchPlan, progress: Progress) -> None:
        self.plan = plan
        self.progress = progress
        self.work_dir = plan.output_dir / "tmp"
        self.server_cpus, self.load_cpus = split_cpus(available_cpus())
        self.threads = len(self.server_cpus)  # one inference thread per server CPU

    @property
    def log_dir(self) -> Path:
        """Where the servers' logs go."""
        return self.work_dir / "logs"

    # Read on first use, inside the section that needs them: `--sections footprint` runs without the dataset.
    @functools.cached_property
    def images(self) -> list[TestImage]:
        """Real CIFAR-10 test JPEGs, a cat photo first."""
        return read_test_images(self.plan.dataset_archive, TEST_IMAGES)

    @functools.cached_property
    def workloads(self) -> dict[str, Workload]:
        """The request bodies for the first test image, written where `hey` can read them."""
        return write_workloads(self.images[0], self.work_dir / "bodies")

    def compared_specs(self) -> tuple[list[ServerSpec], dict[str, str]]:
        """This service, the TensorFlow-path service and the ceiling, with a note for what was skipped."""
        return compared_specs(self.plan, self.threads)

    def start(self, spec: ServerSpec) -> RunningServer:
        """A server pinned to the server CPUs; enter it to wait until it is ready."""
        return RunningServer(spec, self.log_dir, self.server_cpus)

    def hey(self, server: RunningServer, workload: Workload, concurrency: int, seconds: float) -> LoadResult:
        """`hey` against `server`, pinned to the load generator's CPU."""
        return run_hey(server.port, workload, concurrency=concurrency, seconds=seconds, cpus=self.load_cpus)

    def each_server(
        self, specs: Iterable[ServerSpec], measure: Callable[[RunningServer], Measured], notes: dict[str, str]
    ) -> dict[str, Measured]:
        """`measure` each server in turn, started and ready; one that fails to start or under load is noted, and
        the others are still measured."""
        measured: dict[str, Measured] = {}
        for spec in specs:
            try:
                with self.start(spec) as server:
                    measured[spec.name] = measure(server)
            except RuntimeError as error:  # ServerStartError, a missing or failing `hey`, a failed profiler
                notes[spec.name] = f"failed: {error}"
                self.progress(spec.name, f"failed: {str(error).splitlines()[0]}")
        return measured
