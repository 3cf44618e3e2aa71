"""Export side of the project: Keras → ONNX, parity checks, INT8 quantization, manifest (TensorFlow)."""
