"""The seed CNN, exactly as specified, with pixel scaling inside the model."""

from __future__ import annotations

import keras

from training.labels import LABELS


def build_model() -> keras.Model:
    """Rescaling(1/255) → Conv32 → Pool → Conv64 → Pool → Flatten → Dense128 → Dense10 softmax."""
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3), name="image"),
            keras.layers.Rescaling(1.0 / 255, name="rescale"),
            keras.layers.Conv2D(32, (3, 3), activation="relu", name="conv1"),
            keras.layers.MaxPooling2D((2, 2), name="pool1"),
            keras.layers.Conv2D(64, (3, 3), activation="relu", name="conv2"),
            keras.layers.MaxPooling2D((2, 2), name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(128, activation="relu", name="dense"),
            keras.layers.Dense(len(LABELS), activation="softmax", name="probabilities"),
        ],
        name="cifar10_seed_cnn",
    )
