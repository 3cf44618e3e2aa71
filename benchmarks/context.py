"""What every benchmark section runs with: the plan, progress lines, the CPU split, the test inputs, and the servers
under test (this service FP32/INT8 with batching on or off, the TensorFlow-path service, the no-op ceiling)."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from benchmarks.config import BenchPlan, split_cpus
from benchmarks.inputs import TestImage, Workload, read_test_images, write_workloads
from benchmarks.load import Generator, LoadResult, run_hey
from benchmarks.processes import RunningServer, ServerSpec, service_spec

TEST_IMAGES = 16
DEFAULT_SERVICE = "service_fp32_batching"  # this service as `make serve` runs it: every target is measured on it
IMAGE_SERVICE = "service_int8_batching"  # as the container image runs it: the ceiling shares are measured on it too
TF_SERVICE = "tf_service"
CEILING = "ceiling"
CEILING_SPEC = ServerSpec(
    name=CEILING,
    argv=(sys.executable, "-m", "benchmarks.ceiling", "--port", "{port}"),
    description="ceiling: Starlette/uvicorn reading the upload, constant JSON answer",
)
Measured = TypeVar("Measured")
Cpus = tuple[int, ...]


class Progress:
    """Prints `[  12.3s] section: message` lines on stderr so a long run shows where it is."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, section: str, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {section}: {message}", file=sys.stderr, flush=True)


class BenchContext:
    """One run's plan and progress; servers pinned to every CPU but the last, which drives the load (with one CPU,
    both share it)."""

    def __init__(self, plan: BenchPlan, progress: Progress) -> None:
        self.plan = plan
        self.progress = progress
        self.work_dir = plan.output_dir / "tmp"
        self.server_cpus, self.load_cpus = split_cpus()
        self.threads = len(self.server_cpus)  # one inference thread per server CPU

    # Read on first use, inside the section that needs them: `--sections footprint` runs without the dataset.
    @functools.cached_property
    def images(self) -> list[TestImage]:
        """Real CIFAR-10 test JPEGs, a cat photo first."""
        return read_test_images(self.plan.dataset_archive, TEST_IMAGES)

    @functools.cached_property
    def workloads(self) -> dict[str, Workload]:
        """The request bodies for the first test image, written where the load generators can read them."""
        return write_workloads(self.images[0], self.work_dir / "bodies")

    def service(self, model: str = "fp32", batching: bool = True) -> ServerSpec:
        """This service with the given model and batching (by default as it ships), one worker, access log off."""
        environment = {
            "CIFAR10_BATCHING": "true" if batching else "false",
            "CIFAR10_INTRA_OP_THREADS": str(self.threads),
            "CIFAR10_WORKERS": "1",
            "CIFAR10_ACCESS_LOG": "false",
            "CIFAR10_LOG_LEVEL": "warning",
        }
        return service_spec(
            model,
            environment,
            name=f"service_{model}_{'batching' if batching else 'no_batching'}",
            description=f"this service, {model.upper()}, dynamic batching {'on' if batching else 'off'}",
            models_dir=self.plan.models_dir,
        )

    def compared_specs(self) -> tuple[list[ServerSpec], dict[str, str]]:
        """This service, the TensorFlow-path service (when a Keras checkpoint is found) and the ceiling, in that
        order, with a note for what was skipped."""
        if self.plan.keras_model is None:
            return [self.service(), CEILING_SPEC], {TF_SERVICE: "skipped: no Keras checkpoint found"}
        command = (sys.executable, "-m", "benchmarks.tf_service", "--model", str(self.plan.keras_model))
        tf_service = ServerSpec(
            name=TF_SERVICE,
            argv=(*command, "--threads", str(self.threads), "--port", "{port}"),
            description="TensorFlow path: FastAPI + UploadFile + Pillow + model.predict",
        )
        return [self.service(), tf_service, CEILING_SPEC], {}

    def start(self, spec: ServerSpec, cpus: Cpus | None = None) -> RunningServer:
        """A server pinned to ``cpus`` (by default the server CPUs); enter it to wait until it is ready."""
        return RunningServer(spec, self.work_dir / "logs", cpus or self.server_cpus)

    def drive(
        self,
        server: RunningServer,
        workload: Workload,
        concurrency: int,
        seconds: float,
        cpus: Cpus | None = None,
        *,
        generator: Generator = run_hey,
    ) -> tuple[LoadResult, dict[str, float | None]]:
        """Load `server` (with `hey` unless told), the generator pinned to the load generator's CPU (or to ``cpus``),
        and the server's CPU meanwhile: cores busy, µs per successful request."""
        before = server.cpu_seconds()
        result = generator(server.port, workload, concurrency=concurrency, seconds=seconds, cpus=cpus or self.load_cpus)
        used = server.cpu_seconds() - before
        return result, {
            "server_cpu_cores": used / result.seconds if result.seconds else None,
            "server_cpu_us_per_ok": used / result.ok * 1e6 if result.ok else None,
        }

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
            except RuntimeError as error:  # ServerStartError, a missing or failing `hey`
                notes[spec.name] = f"failed: {error}"
                self.progress(spec.name, f"failed: {str(error).splitlines()[0]}")
        return measured
