"""The seed architecture, layer by layer, with scaling inside the model."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow
keras = pytest.importorskip("keras")


def test_seed_architecture_exactly() -> None:
    from training.model import build_model

    model = build_model()
    summary = [
        (type(layer).__name__, getattr(layer, "filters", None) or getattr(layer, "units", None))
        for layer in model.layers
    ]
    assert summary == [
        ("Rescaling", None),
        ("Conv2D", 32),
        ("MaxPooling2D", None),
        ("Conv2D", 64),
        ("MaxPooling2D", None),
        ("Flatten", None),
        ("Dense", 128),
        ("Dense", 10),
    ]
    assert model.layers[0].scale == pytest.approx(1 / 255)
    assert [layer.kernel_size for layer in model.layers if hasattr(layer, "kernel_size")] == [(3, 3), (3, 3)]
    assert [layer.pool_size for layer in model.layers if hasattr(layer, "pool_size")] == [(2, 2), (2, 2)]
    activations = [layer.activation.__name__ for layer in model.layers if hasattr(layer, "activation")]
    assert activations == ["relu", "relu", "relu", "softmax"]
    assert model.input_shape == (None, 32, 32, 3)
    out = model(np.zeros((2, 32, 32, 3), np.float32)).numpy()
    assert out.shape == (2, 10) and np.allclose(out.sum(axis=1), 1.0, atol=1e-6)
