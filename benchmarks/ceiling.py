"""The no-op ceiling: the same Starlette/uvicorn stack reading the upload and answering a constant JSON, the
framework's own limit for `POST /predict`. Run: `python -m benchmarks.ceiling --port 8002`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from training.labels import LABELS

# Shaped like a real /predict answer so serialising it costs about the same.
CONSTANT_ANSWER = {
    "label": "Cat",
    "index": 3,
    "confidence": 0.5,
    "band": "medium",
    "accepted": True,
    "prediction": "Cat",
    "probabilities": {label: 0.1 for label in LABELS},
}


async def predict(request: Request) -> JSONResponse:
    """Read the whole upload (multipart field `file` or the raw body), then answer the constant JSON."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form() as form:
            upload = form.get("file")
            if isinstance(upload, UploadFile):
                await upload.read()
    else:
        await request.body()
    return JSONResponse(CONSTANT_ANSWER)


async def ready(_: Request) -> JSONResponse:
    """Always ready: there is no model."""
    return JSONResponse({"status": "ready"})


def create_app() -> Starlette:
    """The ceiling app."""
    return Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/ready", ready)])


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the ceiling app with uvicorn, configured like the service."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args(argv)
    import uvicorn

    uvicorn.run(
        create_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False, server_header=False
    )


if __name__ == "__main__":
    main()
