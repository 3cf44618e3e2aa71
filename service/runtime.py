"""The ONNX model behind the service: an onnxruntime session tuned for latency, its metadata and its contract."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime as ort

from service import contract
from service.contract import ContractError, ModelInfo
from service.errors import ModelLoadError
from service.integrity import verify_sha256
from service.settings import GraphOptimization

ONNXRUNTIME_VERSION: Final = ort.__version__

_OPTIMIZATION_LEVELS: Final[Mapping[GraphOptimization, ort.GraphOptimizationLevel]] = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """onnxruntime session options chosen for low latency on a small CPU."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    allow_spinning: bool = False
    memory_arena: bool = True
    graph_optimization: GraphOptimization = "all"

    def to_session_options(self) -> ort.SessionOptions:
        """Build the onnxruntime SessionOptions."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        # A chain of convolutions has no parallel branches: sequential execution avoids scheduler overhead.
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = _OPTIMIZATION_LEVELS[self.graph_optimization]
        options.enable_cpu_mem_arena = self.memory_arena
        # Fatal only: every run error also comes back as a Python exception, which the service logs as JSON;
        # at level 3 onnxruntime would print the same error again as a raw, non-JSON stderr line.
        options.log_severity_level = 4
        spinning = "1" if self.allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
        return options


class OnnxModel:
    """A loaded, contract-checked onnxruntime session; ``predict`` maps uint8 (N,32,32,3) to float32 (N,10)."""

    def __init__(self, session: ort.InferenceSession, info: ModelInfo, path: Path, config: SessionConfig) -> None:
        self._session = session
        self._output_names = [contract.OUTPUT_NAME]
        self.info = info
        self.path = path
        self.config = config

    @classmethod
    def load(
        cls,
        path: Path,
        config: SessionConfig | None = None,
        *,
        expected_sha256: str | None = None,
        verify_manifest: bool = False,
    ) -> OnnxModel:
        """Load ``path``, check its digest and the model contract and read its metadata; raise ModelLoadError."""
        config = config or SessionConfig()
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from None
        sha256 = hashlib.sha256(content).hexdigest()
        verify_sha256(path, sha256, expected=expected_sha256, use_manifest=verify_manifest)
        try:
            session = ort.InferenceSession(
                content, sess_options=config.to_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped exceptions for corrupt files
            raise ModelLoadError(f"cannot load model {path}: {_first_line(exc)}") from None
        try:
            info = ModelInfo.from_metadata(session.get_modelmeta().custom_metadata_map, sha256=sha256, file=path.name)
            _check_tensors(session, len(info.labels))
        except ContractError as exc:
            raise ModelLoadError(f"model {path}: {exc}") from None
        return cls(session, info, path, config)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class labels in index order, from the model's metadata."""
        return self.info.labels

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on uint8 images (N, 32, 32, 3) and return float32 probabilities (N, classes)."""
        outputs = self._session.run(self._output_names, {contract.INPUT_NAME: batch})
        result: np.ndarray = outputs[0]
        return result

    def warm_up(self, batch_sizes: Sequence[int] = (1,), repeats: int = 3) -> None:
        """Run a few dummy batches so the first real request does not pay for allocations and kernel set-up.

        Raise ModelLoadError when the model cannot run (a file that loads but fails at run time is corrupt too).
        """
        for size in batch_sizes:
            dummy = np.zeros((size, *contract.INPUT_SHAPE), dtype=np.uint8)
            for _ in range(repeats):
                try:
                    self.predict(dummy)
                except Exception as exc:  # onnxruntime raises its own untyped exceptions
                    message = f"model {self.path} fails on a test batch of {size}: {_first_line(exc)}"
                    raise ModelLoadError(message) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_tensors(session: ort.InferenceSession, classes: int) -> None:
    inputs = session.get_inputs()
    outputs = {output.name: output for output in session.get_outputs()}
    name = contract.INPUT_NAME
    if len(inputs) != 1 or inputs[0].name != name:
        raise ContractError(f"must have one input named {name!r}, has {[tensor.name for tensor in inputs]}")
    tensor = inputs[0]
    shape = tuple(tensor.shape)
    if tensor.type != contract.INPUT_ONNX_TYPE or len(shape) != 4 or shape[1:] != contract.INPUT_SHAPE:
        raise ContractError(f"input {name!r} must be uint8 [N, 32, 32, 3], is {tensor.type} {tensor.shape}")
    name = contract.OUTPUT_NAME
    output = outputs.get(name)
    if output is None:
        raise ContractError(f"has no output named {name!r} (outputs: {sorted(outputs)})")
    width = output.shape[-1] if output.shape else None
    wrong_width = isinstance(width, int) and width != classes
    if output.type != contract.OUTPUT_ONNX_TYPE or len(output.shape) != 2 or wrong_width:
        raise ContractError(f"output {name!r} must be float32 [N, {classes}], is {output.type} {output.shape}")
