"""INT8 graphs of the seed CNN written node by node (QOperator), beside onnxruntime's generic quantizer.

`quantize_static` wraps every float operator in Quantize/Dequantize pairs and also quantizes the input's
Cast and rescale, so the INT8 model does float work the FP32 one does not. Here the graph is written
directly: the uint8 pixels are already the first activation quantized with scale 1/255 and zero point 0,
each ReLU is the clamp at zero point 0 of the layer it follows, and only the logits leave the integer
kernels (the Softmax stays in float so the answers are distributions).

Measured on AVX-512 VNNI, one thread, batch 32: the 3-channel first convolution is output-bound (921 k
requantized values per batch against the second's 346 k) and twice as slow in the integer kernel as in
FP32's NCHWc kernel. So `fp32_stem` keeps the first convolution and its pool in float and quantizes the
pooled map, four times fewer values; the three other weight layers run in the integer kernels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from export.seed_graph import POOLING, GraphBuilder, read_seed_graph
from service import contract

_MICROSOFT = "com.microsoft"  # QGemm lives in onnxruntime's contrib domain


def activation_maxima(fp32: onnx.ModelProto, names: tuple[str, ...], images: np.ndarray) -> list[float]:
    """The largest value each named tensor takes over `images` (min-max calibration; ReLU outputs start at 0)."""
    model = onnx.ModelProto()
    model.CopyFrom(fp32)  # the caller's graph keeps its outputs
    model.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    maxima = np.zeros(len(names))
    for start in range(0, len(images), 256):
        outputs = session.run(list(names), {contract.INPUT_NAME: images[start : start + 256]})
        maxima = np.maximum(maxima, [float(output.max()) for output in outputs])
    return [float(value) for value in maxima]


def per_channel_int8(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights with one scale per output channel (`axis`); zero point 0."""
    reduced = tuple(i for i in range(weights.ndim) if i != axis)
    scale = np.maximum(np.abs(weights).max(axis=reduced), 1e-12) / 127.0
    shape = [1] * weights.ndim
    shape[axis] = -1
    quantized = np.clip(np.round(weights / scale.reshape(shape)), -127, 127).astype(np.int8)
    return quantized, scale.astype(np.float32)


def _quantized_layer(
    b: GraphBuilder,
    name: str,
    x: str,
    *,
    x_quant: tuple[str, str],
    layer: tuple[np.ndarray, np.ndarray],
    scale: float | None,
) -> str:
    """One weight layer in the integer kernels: QLinearConv 3x3 for OIHW weights, QGemm for [in, out] ones.

    The u8 output with zero point 0 clamps at 0, which is the ReLU that follows the layer; with `scale` None
    (the logits) QGemm answers in float. Weights are s8 with one scale per output channel, biases int32.
    """
    weights, bias = layer
    convolution = weights.ndim == 4
    quantized, weight_scale = per_channel_int8(weights, axis=0 if convolution else 1)
    x_scale = float(b.constants[x_quant[0]])
    inputs = [
        x,
        *x_quant,
        b.constant(f"{name}_w", quantized),
        b.constant(f"{name}_w_scale", weight_scale),
        b.constant(f"{name}_w_zero", np.zeros(len(weight_scale), np.int8)),
    ]
    output_quant = (
        []
        if scale is None
        else [b.constant(f"{name}_scale", np.float32(scale)), b.constant(f"{name}_zero", np.uint8(0))]
    )
    int_bias = b.constant(f"{name}_b", np.round(bias / (x_scale * weight_scale)).astype(np.int32))
    if convolution:  # QLinearConv puts the bias last, QGemm between the weights and the output scale
        return b.node("QLinearConv", [*inputs, *output_quant, int_bias], name, kernel_shape=list(weights.shape[2:]))
    return b.node("QGemm", [*inputs, int_bias, *output_quant], name, domain=_MICROSOFT)


def build_int8_graph(fp32_path: Path, output: Path, calibration: np.ndarray, *, fp32_stem: bool) -> Path:
    """Write the INT8 model of `fp32_path` to `output`: u8 activations, s8 per-channel weights, float logits."""
    fp32 = onnx.load(str(fp32_path))
    seed = read_seed_graph(fp32)
    maxima = activation_maxima(fp32, seed.relu_outputs, calibration)
    # u8 with zero point 0, so the ReLU is the clamp; a layer silent on every calibration image still needs a scale
    scales = [max(maximum, 1e-6) / 255.0 for maximum in maxima]
    b = GraphBuilder()
    x = b.node("Transpose", [contract.INPUT_NAME], "pixels_nchw", perm=[0, 3, 1, 2])
    (w1, b1), (w2, b2) = seed.convolutions
    if fp32_stem:
        x = b.node("Cast", [x], "pixels_float", to=TensorProto.FLOAT)
        stem_weights, stem_bias = seed.stem()  # the rescale folded into the first layer
        weights, bias = b.constant("conv1_w", stem_weights), b.constant("conv1_b", stem_bias)
        x = b.node("Conv", [x, weights, bias], "conv1_float", kernel_shape=[3, 3])
        # the ReLU after the pool (they commute): onnxruntime moves a Quantize that directly follows a MaxPool
        # above it, and would then quantize four times as many values
        x = b.node("Relu", [b.node("MaxPool", [x], "pool1_float", **POOLING)], "relu1")
        conv1_quant = (b.constant("conv1_scale", np.float32(scales[0])), b.constant("conv1_zero", np.uint8(0)))
        x = b.node("QuantizeLinear", [x, *conv1_quant], "pool1")
    else:
        if seed.pixel_offset != 0:
            raise ValueError(
                f"uint8 pixels are the first activation only with a zero rescale offset: {seed.pixel_offset}"
            )
        pixels = (b.constant("pixels_scale", np.float32(seed.pixel_scale)), b.constant("pixels_zero", np.uint8(0)))
        x = _quantized_layer(b, "conv1", x, x_quant=pixels, layer=(w1, b1), scale=scales[0])
        x = b.node("MaxPool", [x], "pool1", **POOLING)
        conv1_quant = ("conv1_scale", "conv1_zero")
    x = _quantized_layer(b, "conv2", x, x_quant=conv1_quant, layer=(w2, b2), scale=scales[1])
    x = b.node("MaxPool", [x], "pool2", **POOLING)
    x = b.node("Transpose", [x], "pool2_nhwc", perm=[0, 2, 3, 1])  # Keras flattens channels-last
    (w3, b3), (w4, b4) = seed.dense
    x = b.node("Reshape", [x, b.constant("flat_shape", np.array([-1, w3.shape[0]], np.int64))], "flat")
    x = _quantized_layer(b, "dense1", x, x_quant=("conv2_scale", "conv2_zero"), layer=(w3, b3), scale=scales[2])
    logits = _quantized_layer(b, "dense2", x, x_quant=("dense1_scale", "dense1_zero"), layer=(w4, b4), scale=None)
    x = b.node("Mul", [logits, b.constant("logit_scale", np.float32(seed.logit_scale))], "scaled_logits")
    b.node("Softmax", [x], contract.OUTPUT_NAME, axis=-1)
    graph = helper.make_graph(
        b.nodes,
        "cifar10_cnn_int8",
        [helper.make_tensor_value_info(contract.INPUT_NAME, TensorProto.UINT8, ["N", *contract.INPUT_SHAPE])],
        [helper.make_tensor_value_info(contract.OUTPUT_NAME, TensorProto.FLOAT, ["N", len(b4)])],
        b.initializers(),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", contract.OPSET), helper.make_opsetid(_MICROSOFT, 1)]
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(output))
    return output
