"""The servers under test: this service (FP32/INT8, batching on/off), the TensorFlow-path service, the ceiling."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.config import BenchPlan
from benchmarks.processes import ServerSpec, service_spec

DEFAULT_SERVICE = "service_fp32_batching"
TF_SERVICE = "tf_service"
CEILING = "ceiling"


def service_variant(model: str, batching: bool, threads: int, models_dir: Path) -> ServerSpec:
    """This service with the given model and batching, one worker, access log off."""
    mode = "batching" if batching else "no_batching"
    environment = {
        "CIFAR10_BATCHING": "true" if batching else "false",
        "CIFAR10_INTRA_OP_THREADS": str(threads),
        "CIFAR10_WORKERS": "1",
        "CIFAR10_ACCESS_LOG": "false",
        "CIFAR10_LOG_LEVEL": "warning",
    }
    return service_spec(
        model,
        environment,
        name=f"service_{model}_{mode}",
        description=f"this service, {model.upper()}, dynamic batching {'on' if batching else 'off'}",
        models_dir=models_dir,
    )


def tf_service_spec(keras_model: Path, threads: int) -> ServerSpec:
    """The TensorFlow-path comparison service (FastAPI + UploadFile + Pillow + model.predict)."""
    argv = (sys.executable, "-m", "benchmarks.tf_service", "--port", "{port}")
    return ServerSpec(
        name=TF_SERVICE,
        argv=(*argv, "--model", str(keras_model), "--threads", str(threads)),
        description="TensorFlow path: FastAPI + UploadFile + Pillow + model.predict",
    )


def ceiling_spec() -> ServerSpec:
    """The no-op ceiling app on the same Starlette/uvicorn stack."""
    return ServerSpec(
        name=CEILING,
        argv=(sys.executable, "-m", "benchmarks.ceiling", "--port", "{port}"),
        description="ceiling: Starlette/uvicorn reading the upload, constant JSON answer",
    )


def default_service_spec(threads: int, models_dir: Path) -> ServerSpec:
    """This service as it ships (FP32, batching on): the one every target is measured on."""
    return service_variant("fp32", True, threads, models_dir)


def compared_specs(plan: BenchPlan, threads: int) -> tuple[list[ServerSpec], dict[str, str]]:
    """This service, the TensorFlow-path service (when a Keras checkpoint is found) and the ceiling, in that
    order, with a note for what was skipped."""
    specs = [default_service_spec(threads, plan.models_dir)]
    notes: dict[str, str] = {}
    if plan.keras_model is not None:
        specs.append(tf_service_spec(plan.keras_model, threads))
    else:
        notes[TF_SERVICE] = "skipped: no Keras checkpoint found"
    return [*specs, ceiling_spec()], notes


def service_variants(full_matrix: bool, threads: int, models_dir: Path) -> list[ServerSpec]:
    """Every service configuration to load-test (FP32/INT8 × batching on/off), or only the default one."""
    if not full_matrix:
        return [default_service_spec(threads, models_dir)]
    return [
        service_variant(model, batching, threads, models_dir)
        for model in ("fp32", "int8")
        for batching in (True, False)
    ]
