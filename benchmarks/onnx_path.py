"""The onnxruntime side of the in-process benchmark, with the service's own session settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from service.pipeline import session_config
from service.runtime import OnnxModel
from service.settings import Settings

SERVICE_SESSION_SOURCE = "service.runtime.OnnxModel with the default service.settings.Settings"

OnnxCall = Callable[[NDArray[np.uint8]], NDArray[np.float32]]


def service_default_threads() -> int:
    """The service's default intra-op thread count."""
    return Settings().intra_op_threads


def onnx_runner(model_path: Path, threads: int) -> tuple[OnnxCall, str]:
    """A callable running the ONNX model on a uint8 NHWC batch, and a note on how its session was built.

    The session comes from the service's own loader with its default settings (only the intra-op
    thread count set to `threads`), so the benchmark measures what the service runs.
    """
    settings = Settings().with_overrides(intra_op_threads=threads)
    model = OnnxModel.load(model_path, session_config(settings))

    def run(batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        return np.asarray(model.predict(batch), dtype=np.float32)

    return run, SERVICE_SESSION_SOURCE
