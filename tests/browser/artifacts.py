"""Files the web page tests upload or serve: a generated PNG and a tiny ONNX model with hostile labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, seed: int = 7) -> None:
    """Write a small 32x32 RGB PNG with a smooth pattern plus noise."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, 32, dtype=np.float64)
    pixels = np.stack([np.add.outer(gradient, gradient) / 2, np.tile(gradient, (32, 1)), np.full((32, 32), 90.0)], -1)
    pixels += rng.normal(0, 12, pixels.shape)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)


# Labels that would run script if the page ever wrote model metadata as HTML. Labels come from the ONNX
# file's metadata, so a model from an untrusted source can carry them all the way to the browser.
HOSTILE_LABELS = tuple(f'<img src=x onerror="alert({index})">Class{index}' for index in range(10))


def write_hostile_model(path: Path) -> None:
    """Write a tiny contract-honouring ONNX model (mean colour -> dense -> softmax) with hostile label metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array((rng.normal(0, 0.002, (3, 10))).astype(np.float32), "weights")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["pixels"], ["colour"], axes=[1, 2], keepdims=0),
            helper.make_node("MatMul", ["colour", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "hostile",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", 32, 32, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    metadata = {"labels": json.dumps(HOSTILE_LABELS), "model_name": "cifar10-cnn", "precision": "fp32"}
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, path)
