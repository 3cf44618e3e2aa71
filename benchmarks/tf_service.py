"""The TensorFlow-path comparison service: the original design (FastAPI + UploadFile + Pillow + `model.predict`).

Kept only as a baseline for the benchmarks; it is deliberately the straightforward version a
Keras user writes first, not a tuned one. Run: `python -m benchmarks.tf_service --port 8001`.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile
from PIL import Image

from benchmarks.config import find_keras_model
from benchmarks.tensorflow_path import load_keras_model
from training.labels import LABELS


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
