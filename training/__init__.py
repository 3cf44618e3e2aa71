"""Training side of the project: data loading, the seed CNN, training and evaluation (TensorFlow)."""
