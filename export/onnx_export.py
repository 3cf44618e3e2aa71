"""Convert the Keras model to ONNX with tf2onnx: uint8 NHWC input `image`, output `probabilities`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

from service import contract


def _check_model(model: keras.Model) -> None:
    shape = tuple(model.input_shape[1:])
    if shape != (contract.IMAGE_SIZE, contract.IMAGE_SIZE, contract.CHANNELS):
        raise ValueError(f"model input shape must be (32, 32, 3), got {shape}")
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.activation is not keras.activations.softmax:
        raise ValueError("the model's last layer must be Dense with softmax activation (temperature is folded into it)")


def calibrated_probabilities(model: keras.Model, pixels: tf.Tensor, temperature: float = 1.0) -> tf.Tensor:
    """softmax(logits / T) from raw uint8 pixels: the graph both the export and the parity reference run."""
    features = tf.cast(pixels, tf.float32)
    for layer in model.layers[:-1]:
        features = layer(features, training=False)
    last = model.layers[-1]
    logits = tf.matmul(features, last.kernel) + last.bias
    if temperature != 1.0:
        logits = logits / tf.constant(temperature, tf.float32)
    return tf.nn.softmax(logits, axis=-1)


def keras_reference(model: keras.Model, images: np.ndarray, temperature: float = 1.0, batch: int = 1000) -> np.ndarray:
    """Probabilities computed by TensorFlow/Keras for uint8 images, in batches."""
    outputs = [
        calibrated_probabilities(model, tf.constant(images[i : i + batch]), temperature).numpy()
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(outputs).astype(np.float32)


def export_onnx(
    model: keras.Model,
    output: Path,
    *,
    temperature: float = 1.0,
    metadata: Mapping[str, str] | None = None,
    opset: int = contract.OPSET,
) -> onnx.ModelProto:
    """Write `model` as ONNX to `output`, with the calibration temperature folded in and metadata attached."""
    _check_model(model)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    signature = (
        tf.TensorSpec(
            (None, contract.IMAGE_SIZE, contract.IMAGE_SIZE, contract.CHANNELS), tf.uint8, name=contract.INPUT_NAME
        ),
    )

    @tf.function(input_signature=signature)
    def serve(image: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.OUTPUT_NAME: calibrated_probabilities(model, image, temperature)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=opset)
    # tf2onnx names graph outputs after the dict key, and the input after the TensorSpec name (plus ":0").
    _rename_io(proto)
    _canonicalise_generated_names(proto)
    props = {
        contract.META_MODEL_NAME: contract.MODEL_NAME,
        contract.META_PRECISION: "fp32",
        contract.META_INPUT_CONTRACT: contract.INPUT_CONTRACT,
        contract.META_PREPROCESSING: contract.PREPROCESSING,
        contract.META_TEMPERATURE: repr(float(temperature)),
        contract.META_OPSET: str(opset),
        contract.META_VERSIONS: json.dumps(
            {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "tf2onnx": tf2onnx.__version__,
                "onnx": onnx.__version__,
            }
        ),
        **(metadata or {}),
    }
    set_metadata(proto, props)
    proto.doc_string = f"{contract.MODEL_NAME}: {contract.INPUT_CONTRACT}"
    proto.producer_name = "cifar10-serving export (tf2onnx)"
    onnx.checker.check_model(proto)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, output)
    return proto


def _rename_io(proto: onnx.ModelProto) -> None:
    """Give the graph's input and output the contract's exact names."""
    graph = proto.graph
    renames = {graph.input[0].name: contract.INPUT_NAME, graph.output[0].name: contract.OUTPUT_NAME}
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
        value.type.tensor_type.shape.dim[0].dim_param = "N"  # dynamic batch, one name for in and out
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]


_GENERATED_SUFFIX = re.compile(r"__\d+")


def _canonicalise_generated_names(proto: onnx.ModelProto) -> None:
    """Renumber tf2onnx's process-wide `__N` name suffixes in graph order, so re-exports are byte-identical."""
    graph = proto.graph
    graph.doc_string = ""  # "converted from __inference_serve_N": N is a process-wide counter
    mapping: dict[str, str] = {}
    # tf2onnx merges equal constants under whichever generated name came first, so those get neutral names
    constants = {tensor.name for tensor in graph.initializer}

    def canonical(name: str) -> str:
        if name not in mapping:
            if not _GENERATED_SUFFIX.search(name):
                mapping[name] = name
            else:
                base = "const" if name in constants else _GENERATED_SUFFIX.split(name)[0]
                mapping[name] = f"{base}__{len(mapping)}"
        return mapping[name]

    for node in graph.node:
        node.input[:] = [canonical(name) for name in node.input]
        node.output[:] = [canonical(name) for name in node.output]
        node.name = canonical(node.name)
    for tensor in graph.initializer:
        tensor.name = canonical(tensor.name)
    for info in graph.value_info:
        info.name = canonical(info.name)
    ordered = sorted(graph.initializer, key=lambda tensor: tensor.name)
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def set_metadata(proto: onnx.ModelProto, props: Mapping[str, str]) -> None:
    """Replace the model's metadata_props with `props` (sorted, so output is reproducible)."""
    del proto.metadata_props[:]
    for key in sorted(props):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(props[key])
