"""The CIFAR-10 inference service: Starlette + onnxruntime, with no TensorFlow anywhere in its imports."""
