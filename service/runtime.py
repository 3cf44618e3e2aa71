"""The ONNX model behind the service: an onnxruntime session tuned for latency, its metadata and its contract."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime as ort

from service.errors import ModelLoadError
from service.integrity import verify_sha256
from service.settings import GraphOptimization, Settings

# The fixed model contract (the same strings as export/contract.py, which lives on the TensorFlow side).
INPUT_NAME: Final = "image"
OUTPUT_NAME: Final = "probabilities"
INPUT_SHAPE: Final = (32, 32, 3)
DEFAULT_MODEL_NAME: Final = "cifar10-cnn"

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

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionConfig:
        """Take the session options from the service settings."""
        return cls(
            intra_op_threads=settings.intra_op_threads,
            inter_op_threads=settings.inter_op_threads,
            allow_spinning=settings.allow_spinning,
            memory_arena=settings.memory_arena,
            graph_optimization=settings.graph_optimization,
        )

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


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the model says about itself, plus where it came from."""

    name: str
    version: str
    sha256: str
    path: str
    file: str  # the file name alone: what answers may show (the path stays in the logs)
    precision: str
    labels: tuple[str, ...]
    input_contract: str
    preprocessing: str
    metadata: Mapping[str, str]
    onnxruntime_version: str
    session: SessionConfig


class OnnxModel:
    """A loaded, contract-checked onnxruntime session; ``predict`` maps uint8 (N,32,32,3) to float32 (N,10)."""

    def __init__(self, session: ort.InferenceSession, info: ModelInfo) -> None:
        self._session = session
        self.info = info
        self._output_names = [OUTPUT_NAME]

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
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load model {path}: {first_line}") from None
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        labels = _read_labels(metadata, path)
        _check_contract(session, len(labels), path)
        info = ModelInfo(
            name=metadata.get("model_name") or DEFAULT_MODEL_NAME,
            version=sha256[:12],
            sha256=sha256,
            path=str(path),
            file=path.name,
            precision=metadata.get("precision", "unknown"),
            labels=labels,
            input_contract=metadata.get("input_contract", ""),
            preprocessing=metadata.get("preprocessing", ""),
            metadata=metadata,
            onnxruntime_version=ort.__version__,
            session=config,
        )
        return cls(session, info)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class labels in index order, from the model's metadata."""
        return self.info.labels

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on uint8 images (N, 32, 32, 3) and return float32 probabilities (N, classes)."""
        outputs = self._session.run(self._output_names, {INPUT_NAME: batch})
        result: np.ndarray = outputs[0]
        return result

    def warm_up(self, batch_sizes: Sequence[int] = (1,), repeats: int = 3) -> None:
        """Run a few dummy batches so the first real request does not pay for allocations and kernel set-up.

        Raise ModelLoadError when the model cannot run (a file that loads but fails at run time is corrupt too).
        """
        for size in batch_sizes:
            dummy = np.zeros((size, *INPUT_SHAPE), dtype=np.uint8)
            for _ in range(repeats):
                try:
                    self.predict(dummy)
                except Exception as exc:  # onnxruntime raises its own untyped exceptions
                    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise ModelLoadError(
                        f"model {self.info.path} fails on a test batch of {size}: {first_line}"
                    ) from None


def warm_up_sizes(settings: Settings) -> list[int]:
    """The batch sizes to warm up: a lone request and the largest batch the batcher forms."""
    return sorted({1, settings.max_batch_size})


def load_model(settings: Settings) -> OnnxModel:
    """Load the model the settings choose, with the session options they choose."""
    return OnnxModel.load(
        settings.model_path,
        SessionConfig.from_settings(settings),
        expected_sha256=settings.model_sha256,
        verify_manifest=settings.verify_manifest,
    )


def _read_labels(metadata: Mapping[str, str], path: Path) -> tuple[str, ...]:
    raw = metadata.get("labels")
    if raw is None:
        raise ModelLoadError(f"model {path} has no 'labels' metadata")
    try:
        labels = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ModelLoadError(f"model {path} has unreadable 'labels' metadata (not JSON)") from None
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise ModelLoadError(f"model {path} 'labels' metadata must be a non-empty JSON list of strings")
    return tuple(labels)


def _check_contract(session: ort.InferenceSession, classes: int, path: Path) -> None:
    inputs = session.get_inputs()
    outputs = {output.name: output for output in session.get_outputs()}
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        names = [tensor.name for tensor in inputs]
        raise ModelLoadError(f"model {path} must have one input named {INPUT_NAME!r}, has {names}")
    tensor = inputs[0]
    if tensor.type != "tensor(uint8)" or len(tensor.shape) != 4 or tuple(tensor.shape[1:]) != INPUT_SHAPE:
        raise ModelLoadError(
            f"model {path} input {INPUT_NAME!r} must be uint8 [N, 32, 32, 3], is {tensor.type} {tensor.shape}"
        )
    output = outputs.get(OUTPUT_NAME)
    if output is None:
        raise ModelLoadError(f"model {path} has no output named {OUTPUT_NAME!r} (outputs: {sorted(outputs)})")
    width = output.shape[-1] if output.shape else None
    if output.type != "tensor(float)" or len(output.shape) != 2 or (isinstance(width, int) and width != classes):
        raise ModelLoadError(
            f"model {path} output {OUTPUT_NAME!r} must be float32 [N, {classes}], is {output.type} {output.shape}"
        )
