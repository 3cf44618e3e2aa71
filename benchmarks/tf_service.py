"""The TensorFlow path, a baseline for the benchmarks: the comparison service in its original design (FastAPI +
UploadFile + Pillow + `model.predict`, the version a Keras user writes first, not a tuned one), and the three ways a
TensorFlow user calls the model. Run: `python -m benchmarks.tf_service --port 8001`."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile
from numpy.typing import NDArray
from PIL import Image

from benchmarks.config import find_keras_model
from training.labels import LABELS


def load_keras_model(path: Path, threads: int) -> Any:
    """Import TensorFlow with `threads` intra- and inter-op threads and load the Keras checkpoint."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before the import: no C++ start-up chatter in the progress
    import keras
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # TensorFlow already ran in this process (a test): keep its pools
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return keras.models.load_model(path, compile=False)


def tensorflow_runners(model: Any) -> dict[str, tuple[Callable[[NDArray[np.uint8]], Any], Callable[[Any], Any]]]:
    """name → (prepare, call): the three ways a TensorFlow user runs the model on a batch. Inputs become float32
    outside the timed call (the model rescales by 1/255 itself), which favours TensorFlow slightly."""
    import tensorflow as tf

    signature = [tf.TensorSpec(shape=[None, 32, 32, 3], dtype=tf.float32)]
    compiled = tf.function(lambda images: model(images, training=False), input_signature=signature)
    as_array = partial(np.asarray, dtype=np.float32)
    as_tensor = partial(tf.constant, dtype=tf.float32)
    return {
        "tf_predict": (as_array, lambda images: model.predict(images, verbose=0)),
        "tf_direct_call": (as_tensor, lambda images: model(images, training=False).numpy()),
        "tf_function": (as_tensor, lambda images: compiled(images).numpy()),
    }


def create_app(model_path: Path, threads: int) -> FastAPI:
    """The FastAPI app; the Keras model is loaded and warmed up in the lifespan, then `/ready` answers 200."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        model = load_keras_model(model_path, threads)
        model.predict(np.zeros((1, 32, 32, 3), dtype=np.float32), verbose=0)
        state["model"] = model
        yield
        state.clear()

    app = FastAPI(title="CIFAR-10 (TensorFlow path)", lifespan=lifespan)

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        if "model" not in state:
            raise HTTPException(status_code=503, detail="model not loaded")
        return {"status": "ready"}

    @app.post("/predict")
    async def predict(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 (FastAPI's idiom)
        contents = await file.read()
        try:
            image = Image.open(io.BytesIO(contents)).convert("RGB").resize((32, 32))
        except OSError as error:
            raise HTTPException(status_code=400, detail="not a decodable image") from error
        batch = np.expand_dims(np.asarray(image, dtype=np.float32), axis=0)
        probabilities = state["model"].predict(batch, verbose=0)[0]
        index = int(np.argmax(probabilities))
        return {"label": LABELS[index], "confidence": float(probabilities[index])}

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the TensorFlow-path app with uvicorn."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model", type=Path, default=None, help="Keras checkpoint (default models/best_model.keras)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra- and inter-op threads")
    args = parser.parse_args(argv)
    model_path = find_keras_model(args.model)
    if model_path is None:
        parser.error("no Keras checkpoint found; pass --model")
    import uvicorn

    uvicorn.run(
        create_app(model_path, args.threads), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
