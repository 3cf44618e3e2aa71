"""Broken and slow variants of the tiny test model (built with onnx, no TensorFlow) for the fault and load tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.conftest import LABELS, build_tiny_model


def build_slow_model(path: Path, *, layers: int = 400, width: int = 1024) -> Path:
    """The tiny model plus a side chain of ``layers`` identity matmuls (``width`` wide) per image: same answers,
    but each image costs ``layers`` x 2 x width^2 FLOPs (400 x 2 x 1024^2 = 0.84 GFLOP: some 20 ms on one core)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(build_tiny_model(path))
    graph = model.graph
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.eye(3072, width, dtype=np.float32), "slow_in"),
            numpy_helper.from_array(np.eye(width, dtype=np.float32), "slow_identity"),
            numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), "slow_zero"),
        ]
    )
    nodes = [helper.make_node("MatMul", ["flat", "slow_in"], ["slow_0"])]
    for layer in range(layers):
        nodes.append(helper.make_node("MatMul", [f"slow_{layer}", "slow_identity"], [f"slow_{layer + 1}"]))
    nodes += [
        helper.make_node("ReduceSum", [f"slow_{layers}"], ["slow_sum"], keepdims=1),  # [N, 1]
        helper.make_node("Mul", ["slow_sum", "slow_zero"], ["slow_nothing"]),
        helper.make_node("Add", ["logits", "slow_nothing"], ["slow_logits"]),
    ]
    softmax = next(node for node in graph.node if node.op_type == "Softmax")
    softmax.input[0] = "slow_logits"
    # Keep the nodes topologically sorted: the side chain runs between MatMul(logits) and Softmax.
    position = list(graph.node).index(softmax)
    for offset, node in enumerate(nodes):
        graph.node.insert(position + offset, node)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def build_model_failing_at_run(path: Path) -> Path:
    """A contract-shaped model that loads fine but fails on every run (a Gather index out of range)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["image"], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", ["as_float", "flat_shape"], ["flat"]),
            helper.make_node("Gather", ["flat", "indices"], ["logits"], axis=1),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "fails_at_run",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", 32, 32, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(LABELS)])],
        initializer=[
            numpy_helper.from_array(np.array([-1, 3072], dtype=np.int64), "flat_shape"),
            numpy_helper.from_array(np.array([*range(len(LABELS) - 1), 5000], dtype=np.int64), "indices"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    entry = model.metadata_props.add()
    entry.key, entry.value = "labels", json.dumps(list(LABELS))
    path.write_bytes(model.SerializeToString())
    return path


def build_model_without_labels(path: Path) -> Path:
    """The tiny model with its ``labels`` metadata removed."""
    import onnx

    model = onnx.load(build_tiny_model(path))
    kept = [entry for entry in model.metadata_props if entry.key != "labels"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    path.write_bytes(model.SerializeToString())
    return path
