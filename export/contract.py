"""The exported model's interface: tensor names, shapes, dtype and metadata keys the service relies on."""

from __future__ import annotations

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
IMAGE_SIZE = 32
CHANNELS = 3
OPSET = 17

INPUT_CONTRACT = (
    "image: uint8 [N, 32, 32, 3], NHWC, RGB, raw pixel values 0-255 (no scaling, no mean subtraction); "
    "probabilities: float32 [N, 10], softmax over the labels in index order"
)
PREPROCESSING = (
    "Decode to RGB (EXIF orientation applied, alpha composited on white), resize to 32x32; "
    "the model divides by 255 itself (Rescaling layer), so clients send raw uint8 pixels"
)

# ONNX metadata_props keys written by the export and read by the service (all values are strings).
META_LABELS = "labels"  # JSON list of class labels in index order
META_MODEL_NAME = "model_name"
META_PRECISION = "precision"  # "fp32" or "int8"
META_INPUT_CONTRACT = "input_contract"
META_PREPROCESSING = "preprocessing"
META_SOURCE_SHA256 = "source_keras_sha256"
META_TEMPERATURE = "temperature"  # calibration temperature folded into the softmax
META_VERSIONS = "export_versions"  # JSON: tensorflow, keras, tf2onnx, onnx, onnxruntime
META_OPSET = "opset"
MODEL_NAME = "cifar10-cnn"
