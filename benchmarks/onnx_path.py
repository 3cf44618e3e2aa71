"""The onnxruntime side of the in-process benchmark, with the service's own session settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
SERVICE_SESSION_SOURCE = "service.runtime.OnnxModel with the default service.settings.Settings"

OnnxCall = Callable[[NDArray[np.uint8]], NDArray[np.float32]]


def service_default_threads() -> int:
    """The service's default intra-op thread count (1 if the service package is not importable)."""
    try:
        from service.settings import Settings
    except ImportError:
        return 1
    return Settings().intra_op_threads


def onnx_runner(model_path: Path, threads: int) -> tuple[OnnxCall, str]:
    """A callable running the ONNX model on a uint8 NHWC batch, and a note on how its session was built.

    The session comes from the service's own loader with its default settings (only the intra-op
    thread count set to `threads`), so the benchmark measures what the service runs.
    """
    try:
        from service.runtime import OnnxModel, SessionConfig
        from service.settings import Settings
    except ImportError:
        return _replicated_runner(model_path, threads), "replicated service options (service not importable)"
    settings = Settings().with_overrides(intra_op_threads=threads)
    model = OnnxModel.load(model_path, SessionConfig.from_settings(settings))

    def run(batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        return np.asarray(model.predict(batch), dtype=np.float32)

    return run, SERVICE_SESSION_SOURCE


def _replicated_runner(model_path: Path, threads: int) -> OnnxCall:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])

    def run(batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        (probabilities,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        return np.asarray(probabilities, dtype=np.float32)

    return run
