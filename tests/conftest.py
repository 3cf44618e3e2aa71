"""Shared fixtures: a tiny ONNX model honouring the model contract (no TensorFlow) and a clean CIFAR10_* env."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

LABELS = ("Aeroplane", "Automobile", "Bird", "Cat", "Deer", "Dog", "Frog", "Horse", "Ship", "Truck")


def build_tiny_model(
    path: Path,
    *,
    labels: Sequence[str] = LABELS,
    scale: float = 0.1,
    precision: str = "fp32",
    input_name: str = "image",
    input_type: str = "uint8",
) -> Path:
    """Write a contract-shaped ONNX model: logits = scale x per-channel mean (R, G, B -> classes 0, 1, 2), softmax.

    A pure red image is class 0 with near certainty, a mid-grey image splits 1/3 over classes 0-2, black is uniform.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes = len(labels)
    weights = np.zeros((32 * 32 * 3, classes), dtype=np.float32)
    for channel in range(min(3, classes)):
        weights[channel::3, channel] = scale / (32 * 32)
    elem_type = TensorProto.UINT8 if input_type == "uint8" else TensorProto.FLOAT
    graph = helper.make_graph(
        [
            helper.make_node("Cast", [input_name], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", ["as_float", "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny_cifar10",
        [helper.make_tensor_value_info(input_name, elem_type, ["N", 32, 32, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        initializer=[
            numpy_helper.from_array(np.array([-1, 32 * 32 * 3], dtype=np.int64), "flat_shape"),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    metadata = {
        "labels": json.dumps(list(labels)),
        "model_name": "cifar10-cnn",
        "precision": precision,
        "input_contract": "image: uint8 [N, 32, 32, 3]; probabilities: float32 [N, 10]",
        "preprocessing": "tiny test model",
        "temperature": "1.0",
        "opset": "17",
        "export_versions": "{}",
    }
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny contract-shaped ONNX model file, built once per session."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(autouse=True)
def _clean_cifar10_environment() -> Iterator[None]:
    """Keep CIFAR10_* variables from the developer's shell (or another test) out of every test."""
    saved = {key: value for key, value in os.environ.items() if key.startswith("CIFAR10_")}
    for key in saved:
        del os.environ[key]
    yield
    for key in [key for key in os.environ if key.startswith("CIFAR10_")]:
        del os.environ[key]
    os.environ.update(saved)
