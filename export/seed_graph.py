"""The seed CNN as read from an ONNX graph, and the small builder the hand-written graphs are made with.

tf2onnx's graph and the lean FP32 graph (`export.fp32_graph`) both read back to the same :class:`SeedGraph`: the
Rescaling layer, the weights in Keras's order, the temperature. The INT8 and FP32 writers start from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import onnx
from onnx import helper, numpy_helper

POOLING: Final[dict[str, list[int]]] = {"kernel_shape": [2, 2], "strides": [2, 2]}
_KERNEL: Final = [3, 3]
_TO_NHWC: Final = [0, 2, 3, 1]


@dataclass(frozen=True)
class SeedGraph:
    """What an exported FP32 graph holds of the seed architecture, read from its nodes."""

    pixel_scale: float  # the Rescaling layer: pixels * scale + offset
    pixel_offset: float
    convolutions: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weights OIHW, bias) in order
    dense: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weights [in, out], bias) in order; rows as Keras flattens
    logit_scale: float  # 1 / temperature, applied before the Softmax
    relu_outputs: tuple[str, ...]  # tensors whose maxima set the activation scales

    def stem(self) -> tuple[np.ndarray, np.ndarray]:
        """The first convolution with the Rescaling folded in, for raw pixels: conv(w, p * s + o) = conv(w * s, p) +
        o * sum(w). Exact because the convolution has no padding: every window sees nine real pixels."""
        weights, bias = self.convolutions[0]
        folded_bias = bias + self.pixel_offset * weights.sum(axis=(1, 2, 3))
        return (weights * self.pixel_scale).astype(np.float32), folded_bias.astype(np.float32)


def pooled_shape(seed: SeedGraph) -> tuple[int, int, int]:
    """(channels, height, width) of the map the first dense layer flattens."""
    channels = seed.convolutions[-1][0].shape[0]
    side = math.isqrt(seed.dense[0][0].shape[0] // channels)
    return channels, side, side


def nchw_rows(seed: SeedGraph) -> np.ndarray:
    """The first dense layer's weights with rows in channels-first order: it can then flatten the pooled map as
    onnxruntime holds it, with no transpose to channels-last first."""
    weights = seed.dense[0][0]
    channels, height, width = pooled_shape(seed)
    return weights.reshape(height, width, channels, -1).transpose(2, 0, 1, 3).reshape(weights.shape)


def read_seed_graph(model: onnx.ModelProto) -> SeedGraph:
    """Find the seed CNN's layers in an exported FP32 graph; ValueError when the graph is another shape.

    tf2onnx leaves out what is neutral: a zero bias (no Add), a temperature of 1 (no Mul before the Softmax). A
    graph that flattens channels-first (no Transpose before the flatten) has its dense rows put back in Keras's
    channels-last order.
    """
    graph = model.graph
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    producers = {output: node for node in graph.node for output in node.output}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def constant_after(tensor: str, op: str, default: float | np.ndarray) -> tuple[str, float | np.ndarray]:
        """The constant of an `op` node that alone follows `tensor`, and its output; `default` when there is none."""
        nodes = consumers.get(tensor, [])
        if len(nodes) == 1 and nodes[0].op_type == op:
            found = [values[name] for name in nodes[0].input if name in values]
            if len(found) == 1:
                return nodes[0].output[0], found[0]
        return tensor, default

    def scalar(value: float | np.ndarray) -> float:
        return float(np.asarray(value).reshape(-1)[0])

    nodes = list(graph.node)
    conv_nodes = [n for n in nodes if n.op_type == "Conv" and n.input[1] in values]
    convolutions = tuple(
        (values[n.input[1]], values[n.input[2]] if len(n.input) > 2 else np.zeros(values[n.input[1]].shape[0]))
        for n in conv_nodes
    )
    dense = []
    matmuls = [n for n in nodes if n.op_type == "MatMul" and n.input[1] in values]
    for matmul in matmuls:
        weights = values[matmul.input[1]]
        _, bias = constant_after(matmul.output[0], "Add", np.zeros(weights.shape[1], np.float32))
        dense.append((weights, np.asarray(bias)))
    relus = tuple(n.output[0] for n in nodes if n.op_type == "Relu")
    softmaxes = [n for n in nodes if n.op_type == "Softmax"]
    casts = [n for n in nodes if n.op_type == "Cast" and graph.input and n.input[0] == graph.input[0].name]
    pools = [n for n in nodes if n.op_type == "MaxPool"]
    if len(convolutions) != 2 or len(dense) != 2 or len(relus) != 3 or len(softmaxes) != 1 or len(casts) != 1:
        raise ValueError(f"{graph.name!r} is not the seed CNN (Cast of the input, 2 Conv, 2 MatMul, 3 Relu, a Softmax)")
    if not all(_is_valid_3x3(n) for n in conv_nodes) or not all(_is_pool_2x2(n) for n in pools) or len(pools) != 2:
        raise ValueError(f"{graph.name!r} is not the seed CNN (3x3 convolutions without padding, two 2x2 pools)")
    scaled, pixel_scale = constant_after(casts[0].output[0], "Mul", 1.0)
    _, pixel_offset = constant_after(scaled, "Add", 0.0)
    before_softmax = producers.get(softmaxes[0].input[0])
    logit_scale: float | np.ndarray = 1.0
    if before_softmax is not None and before_softmax.op_type == "Mul":
        _, logit_scale = constant_after(before_softmax.input[0], "Mul", 1.0)
    seed = SeedGraph(scalar(pixel_scale), scalar(pixel_offset), convolutions, tuple(dense), scalar(logit_scale), relus)
    if _flattens_channels_last(matmuls[0], producers):
        return seed
    channels, height, width = pooled_shape(seed)
    weights, bias = seed.dense[0]
    keras_rows = weights.reshape(channels, height, width, -1).transpose(1, 2, 0, 3).reshape(weights.shape)
    return SeedGraph(
        seed.pixel_scale,
        seed.pixel_offset,
        seed.convolutions,
        ((keras_rows, bias), seed.dense[1]),
        seed.logit_scale,
        seed.relu_outputs,
    )


def _ints(node: onnx.NodeProto, name: str) -> list[int] | None:
    found = [list(a.ints) for a in node.attribute if a.name == name]
    return found[0] if found else None


def _is_valid_3x3(node: onnx.NodeProto) -> bool:
    pads, strides = _ints(node, "pads"), _ints(node, "strides")
    auto_pad = next((a.s for a in node.attribute if a.name == "auto_pad"), b"NOTSET")
    no_padding = not any(pads or []) and auto_pad in (b"NOTSET", b"VALID")
    return _ints(node, "kernel_shape") == _KERNEL and no_padding and strides in (None, [1, 1])


def _is_pool_2x2(node: onnx.NodeProto) -> bool:
    return all(_ints(node, name) == value for name, value in POOLING.items())


def _flattens_channels_last(first_dense: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> bool:
    """Whether the flatten before the first dense layer is fed by a Transpose to channels-last, as Keras's is."""
    reshape = producers.get(first_dense.input[0])
    before = producers.get(reshape.input[0]) if reshape is not None and reshape.op_type == "Reshape" else None
    return before is not None and before.op_type == "Transpose" and _ints(before, "perm") == _TO_NHWC


class GraphBuilder:
    """Collects nodes and constants; `constant` names an array once and returns its name.

    With a float `dtype`, float constants are stored in it (a neutral bias read back as float64 zeros would
    otherwise make a float64 input of a float32 node)."""

    def __init__(self, dtype: type[np.floating] | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.constants: dict[str, np.ndarray] = {}
        self._float = dtype

    def constant(self, name: str, value: np.ndarray | np.generic) -> str:
        array = np.asarray(value)
        self.constants[name] = array.astype(self._float) if self._float and array.dtype.kind == "f" else array
        return name

    def initializers(self) -> list[onnx.TensorProto]:
        return [numpy_helper.from_array(value, name) for name, value in self.constants.items()]

    def node(self, op: str, inputs: list[str], output: str, **attributes: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))  # type: ignore[arg-type]
        return output
