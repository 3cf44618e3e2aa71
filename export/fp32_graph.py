"""The shipped FP32 graph, written node by node from tf2onnx's: the same function with less work per run.

tf2onnx's graph of the seed CNN carries what TensorFlow computed along the way: the Rescaling layer's Mul and Add
on every pixel, a transpose back to channels-last before the flatten, a Shape, Gather, Cast, Slice, Concat, Cast
chain that builds the flatten's shape on every run, and the temperature's Mul before the Softmax. Here the
Rescaling is folded into the first convolution (`SeedGraph.stem`), the temperature into the logits layer, the
flatten takes a constant shape, and the first dense layer's rows are put in channels-first order so the pooled
map is flattened as onnxruntime holds it. Parity with Keras is checked on the written graph, like any export.

Measured 2026-12-07 on the Xeon of benchmarks/RESULTS.md, one thread, against tf2onnx's graph: batch 1 0.89x the
time, batch 32 0.975x (medians of interleaved rounds); the largest probability difference on 1,000 random images
8e-7, on the 10,000 test images against Keras 1.3e-6.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from export.seed_graph import POOLING, GraphBuilder, SeedGraph, nchw_rows, read_seed_graph
from service import contract

GRAPH_NAME = "cifar10_cnn_fp32"


def build_fp32_graph(seed: SeedGraph) -> onnx.ModelProto:
    """The lean float graph of `seed`: uint8 NHWC pixels in, probabilities out."""
    b = GraphBuilder(dtype=np.float32)
    x = b.node("Cast", [contract.INPUT_NAME], "pixels_float", to=TensorProto.FLOAT)
    x = b.node("Transpose", [x], "pixels_nchw", perm=[0, 3, 1, 2])
    weights, bias = seed.stem()
    x = b.node("Conv", [x, b.constant("conv1_w", weights), b.constant("conv1_b", bias)], "conv1", kernel_shape=[3, 3])
    x = b.node("MaxPool", [b.node("Relu", [x], "relu1")], "pool1", **POOLING)
    (w2, b2) = seed.convolutions[1]
    x = b.node("Conv", [x, b.constant("conv2_w", w2), b.constant("conv2_b", b2)], "conv2", kernel_shape=[3, 3])
    x = b.node("MaxPool", [b.node("Relu", [x], "relu2")], "pool2", **POOLING)
    rows = nchw_rows(seed)
    x = b.node("Reshape", [x, b.constant("flat_shape", np.array([-1, rows.shape[0]], np.int64))], "flat")
    (_, b3), (w4, b4) = seed.dense
    x = b.node("MatMul", [x, b.constant("dense1_w", rows)], "dense1_matmul")
    x = b.node("Relu", [b.node("Add", [x, b.constant("dense1_b", b3)], "dense1")], "relu3")
    # softmax(T' * (x w + c)) = softmax(x (T' w) + T' c): the temperature folds into the logits layer
    logit_weights = (w4 * seed.logit_scale).astype(np.float32)
    logit_bias = (b4 * seed.logit_scale).astype(np.float32)
    x = b.node("MatMul", [x, b.constant("logits_w", logit_weights)], "logits_matmul")
    x = b.node("Add", [x, b.constant("logits_b", logit_bias)], "logits")
    b.node("Softmax", [x], contract.OUTPUT_NAME, axis=-1)
    graph = helper.make_graph(
        b.nodes,
        GRAPH_NAME,
        [helper.make_tensor_value_info(contract.INPUT_NAME, TensorProto.UINT8, ["N", *contract.INPUT_SHAPE])],
        [helper.make_tensor_value_info(contract.OUTPUT_NAME, TensorProto.FLOAT, ["N", len(b4)])],
        b.initializers(),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    onnx.checker.check_model(model)
    return model


def lean_copy(exported: onnx.ModelProto) -> onnx.ModelProto:
    """The lean graph of an exported seed CNN, with the export's metadata, description and producer."""
    model = build_fp32_graph(read_seed_graph(exported))
    model.metadata_props.extend(exported.metadata_props)
    model.doc_string = exported.doc_string
    model.producer_name, model.producer_version = exported.producer_name, exported.producer_version
    return model
