"""Benchmarks: onnxruntime against the TensorFlow path, in-process, over HTTP, at start-up, in memory and on disk."""
