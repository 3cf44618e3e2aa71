"""The model contract, defined once: tensor names, shapes and dtypes, labels, and the ONNX metadata keys.

The runtime side owns it; the TensorFlow side (``training/``, ``export/``) imports it and conforms to it.
Nothing here imports onnxruntime, so codecs and answers can use it without the runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

MODEL_NAME: Final = "cifar10-cnn"
IMAGE_SIZE: Final = 32
CHANNELS: Final = 3
INPUT_NAME: Final = "image"
INPUT_SHAPE: Final = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)  # per image; the batch axis is dynamic
INPUT_ONNX_TYPE: Final = "tensor(uint8)"
INPUT_DATATYPE: Final = "UINT8"  # Open Inference Protocol names
OUTPUT_NAME: Final = "probabilities"
OUTPUT_ONNX_TYPE: Final = "tensor(float)"
OUTPUT_DATATYPE: Final = "FP32"
LAYOUT: Final = "NHWC RGB"
OPSET: Final = 17

# The labels the model reports, in index order; baked into the exported file's metadata, read back from there.
LABELS: Final = ("Aeroplane", "Automobile", "Bird", "Cat", "Deer", "Dog", "Frog", "Horse", "Ship", "Truck")

INPUT_CONTRACT: Final = (
    "image: uint8 [N, 32, 32, 3], NHWC, RGB, raw pixel values 0-255 (no scaling, no mean subtraction); "
    "probabilities: float32 [N, 10], softmax over the labels in index order"
)
PREPROCESSING: Final = (
    "Decode to RGB (EXIF orientation applied, alpha composited on white), resize to 32x32; "
    "the model divides by 255 itself (Rescaling layer), so clients send raw uint8 pixels"
)

# ONNX metadata_props keys written by the export and read by the service (all values are strings).
META_LABELS: Final = "labels"  # JSON list of class labels in index order
META_MODEL_NAME: Final = "model_name"
META_PRECISION: Final = "precision"  # "fp32" or "int8"
META_INPUT_CONTRACT: Final = "input_contract"
META_PREPROCESSING: Final = "preprocessing"
META_SOURCE_SHA256: Final = "source_keras_sha256"
META_TEMPERATURE: Final = "temperature"  # calibration temperature folded into the softmax
META_VERSIONS: Final = "export_versions"  # JSON: tensorflow, keras, tf2onnx, onnx, onnxruntime
META_OPSET: Final = "opset"
META_QUANTIZATION: Final = "quantization"  # JSON: the INT8 recipe (INT8 files only)


class ContractError(ValueError):
    """A model file's metadata or tensors do not honour the contract."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model file says about itself (its metadata), plus its digest and file name."""

    name: str
    version: str  # the first 12 hex digits of the file's sha256
    sha256: str
    file: str  # the file name alone: what answers may show (the path stays in the logs)
    precision: str
    labels: tuple[str, ...]
    metadata: Mapping[str, str]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], *, sha256: str, file: str) -> ModelInfo:
        """Read the contract's metadata keys; raise ContractError when the labels are missing or malformed."""
        return cls(
            name=metadata.get(META_MODEL_NAME) or MODEL_NAME,
            version=sha256[:12],
            sha256=sha256,
            file=file,
            precision=metadata.get(META_PRECISION, "unknown"),
            labels=read_labels(metadata),
            metadata=dict(metadata),
        )

    @property
    def input_contract(self) -> str:
        """The contract text the export wrote into the file."""
        return self.metadata.get(META_INPUT_CONTRACT, "")

    @property
    def preprocessing(self) -> str:
        """The preprocessing the export describes."""
        return self.metadata.get(META_PREPROCESSING, "")

    def tensors(self) -> dict[str, list[dict[str, object]]]:
        """Input and output tensors as the Open Inference Protocol describes them (-1: the dynamic batch axis)."""
        return {
            "inputs": [{"name": INPUT_NAME, "datatype": INPUT_DATATYPE, "shape": [-1, *INPUT_SHAPE]}],
            "outputs": [{"name": OUTPUT_NAME, "datatype": OUTPUT_DATATYPE, "shape": [-1, len(self.labels)]}],
        }


def read_labels(metadata: Mapping[str, str]) -> tuple[str, ...]:
    """The labels from the metadata: a non-empty JSON list of strings."""
    raw = metadata.get(META_LABELS)
    if raw is None:
        raise ContractError(f"no {META_LABELS!r} metadata")
    try:
        labels = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ContractError(f"unreadable {META_LABELS!r} metadata (not JSON)") from None
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise ContractError(f"{META_LABELS!r} metadata must be a non-empty JSON list of strings")
    return tuple(labels)
