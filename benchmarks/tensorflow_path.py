"""The TensorFlow side of the in-process benchmark: `model.predict`, a direct call and a `tf.function`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

TensorFlowCall = Callable[[Any], NDArray[np.float32]]


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter out of the progress output (must run before the import)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_keras_model(path: Path, threads: int) -> Any:
    """Import TensorFlow with `threads` intra- and inter-op threads and load the Keras checkpoint."""
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # TensorFlow already ran in this process (a test that built the model first): keep its pools.
        pass
    return keras.models.load_model(path, compile=False)


def tensorflow_runners(model: Any) -> dict[str, tuple[Callable[[NDArray[np.uint8]], Any], TensorFlowCall]]:
    """name → (prepare, call): the three ways a TensorFlow user can run the model on a batch.

    Inputs are converted to float32 outside the timed call (the model rescales by 1/255 itself),
    which favours TensorFlow slightly: onnxruntime is timed on the raw uint8 batch.
    """
    import tensorflow as tf

    compiled = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec(shape=[None, 32, 32, 3], dtype=tf.float32)],
    )

    def as_float_array(batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        return batch.astype(np.float32)

    def as_float_tensor(batch: NDArray[np.uint8]) -> Any:
        return tf.constant(batch, dtype=tf.float32)

    def predict(images: Any) -> NDArray[np.float32]:
        return np.asarray(model.predict(images, verbose=0), dtype=np.float32)

    def direct(images: Any) -> NDArray[np.float32]:
        return np.asarray(model(images, training=False).numpy(), dtype=np.float32)

    def function(images: Any) -> NDArray[np.float32]:
        return np.asarray(compiled(images).numpy(), dtype=np.float32)

    return {
        "tf_predict": (as_float_array, predict),
        "tf_direct_call": (as_float_tensor, direct),
        "tf_function": (as_float_tensor, function),
    }
