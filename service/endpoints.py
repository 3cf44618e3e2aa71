"""The HTTP endpoints of the service's own API: predict, batch predict, health, readiness, model, metrics, page.

Transport only: bodies are read and decoded here, the model is reached through the batcher.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.errors import InvalidParameterError, InvalidRequestError, ServiceError, UnsupportedMediaTypeError
from service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from service.predictions import describe_prediction
from service.preprocessing import decode_image
from service.state import ServiceState
from service.uploads import RAW_IMAGE_TYPES_HINT, Upload, is_raw_image, media_type, read_body, read_uploads

# Bodies up to this size decode on the event loop (a 32x32 JPEG takes ~30 us); bigger photos decode in a
# thread (Pillow releases the GIL) so one large upload does not stall every other request.
INLINE_DECODE_BYTES: Final = 64 * 1024

# The page may use inline script and style; everything else only from this origin.
PAGE_SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}


def service_state(request: Request) -> ServiceState:
    """The app's state object."""
    state: ServiceState = request.app.state.service
    return state


async def index(request: Request) -> Response:
    """``GET /``: the page for trying the model by hand."""
    return Response(service_state(request).index_html, media_type="text/html", headers=PAGE_SECURITY_HEADERS)


async def health(request: Request) -> Response:
    """``GET /health``: liveness (the process answers)."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """``GET /ready``: 200 once the model is loaded and warmed up, 503 before that and while shutting down."""
    service_state(request).serving()
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus exposition."""
    state = service_state(request)
    if state.batcher is not None:
        state.metrics.set_queue_depth(state.batcher.queue_depth)
    return Response(state.metrics.render(), headers={"content-type": METRICS_CONTENT_TYPE})


async def model(request: Request) -> Response:
    """``GET /model``: what is being served and how."""
    state = service_state(request)
    info = state.loaded_model().info
    settings = state.settings
    return JSONResponse(
        {
            "name": info.name,
            "version": info.version,
            "sha256": info.sha256,
            "file": info.file,
            "precision": info.precision,
            "labels": list(info.labels),
            "input": {"name": "image", "datatype": "UINT8", "shape": [-1, 32, 32, 3], "layout": "NHWC RGB"},
            "output": {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(info.labels)]},
            "input_contract": info.input_contract,
            "preprocessing": info.preprocessing,
            "resize": settings.resize,
            "metadata": dict(info.metadata),
            "onnxruntime_version": info.onnxruntime_version,
            "threads": {"intra_op": info.session.intra_op_threads, "inter_op": info.session.inter_op_threads},
            "session": {
                "allow_spinning": info.session.allow_spinning,
                "memory_arena": info.session.memory_arena,
                "graph_optimization": info.session.graph_optimization,
            },
            "batching": {
                "enabled": settings.batching,
                "max_batch_size": settings.max_batch_size,
                "max_batch_wait_ms": settings.max_batch_wait_ms,
                "max_queue": settings.max_queue,
            },
            "thresholds": {
                "high_confidence": state.thresholds.high,
                "low_confidence": state.thresholds.low,
                "reject_below": state.thresholds.reject_below,
            },
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_image_pixels": settings.max_image_pixels,
                "max_batch_images": settings.max_batch_images,
            },
        }
    )


async def predict(request: Request) -> Response:
    """``POST /predict``: one image as multipart field ``file`` or as a raw image body."""
    state = service_state(request)
    top_k = _top_k(request, state)
    model_, batcher = state.serving()
    content_type = media_type(request)
    settings = state.settings
    if is_raw_image(content_type):
        data = await read_body(request, settings.max_upload_bytes)
    elif content_type == "multipart/form-data":
        uploads = await read_uploads(request, field_names=("file",), limit=settings.max_upload_bytes, max_files=1)
        if not uploads:
            raise InvalidRequestError("multipart body has no file in the field 'file'")
        data = uploads[0].data
    else:
        raise UnsupportedMediaTypeError(
            f"unsupported content type {content_type or 'none'!r}: send multipart/form-data with a 'file' field "
            f"or a raw body with {RAW_IMAGE_TYPES_HINT}"
        )
    image = await _decode(data, state)
    probabilities = await batcher.predict(image[np.newaxis])
    result = describe_prediction(probabilities[0], model_.labels, state.thresholds, top_k)
    state.metrics.predictions.labels(result["label"], result["band"]).inc()
    return JSONResponse(result)


async def predict_batch(request: Request) -> Response:
    """``POST /predict/batch``: repeated multipart ``files`` (or ``file``) fields, answered in order."""
    state = service_state(request)
    top_k = _top_k(request, state)
    model_, batcher = state.serving()
    settings = state.settings
    uploads = await read_uploads(
        request,
        field_names=("files", "file"),
        limit=settings.max_upload_bytes,
        max_files=settings.max_batch_images,
    )
    if not uploads:
        raise InvalidRequestError("multipart body has no files in the field 'files'")
    results: list[dict[str, Any] | None] = []
    images: list[np.ndarray] = []
    for upload in uploads:
        try:
            images.append(await _decode(upload.data, state))
            results.append(None)
        except ServiceError as exc:
            results.append(_file_error(upload, exc))
    if images:
        probabilities = await batcher.predict(np.stack(images))
        rows = iter(probabilities)
        for position, entry in enumerate(results):
            if entry is None:
                result = describe_prediction(next(rows), model_.labels, state.thresholds, top_k)
                result["filename"] = uploads[position].filename
                state.metrics.predictions.labels(result["label"], result["band"]).inc()
                results[position] = result
    return JSONResponse({"results": results})


def _file_error(upload: Upload, exc: ServiceError) -> dict[str, Any]:
    return {"error": exc.message, "code": exc.code, "status": exc.status_code, "filename": upload.filename}


async def _decode(data: bytes, state: ServiceState) -> np.ndarray:
    settings = state.settings
    if len(data) <= INLINE_DECODE_BYTES:
        return decode_image(data, max_pixels=settings.max_image_pixels, resize=settings.resize)
    return await asyncio.to_thread(decode_image, data, max_pixels=settings.max_image_pixels, resize=settings.resize)


def _top_k(request: Request, state: ServiceState) -> int | None:
    raw = request.query_params.get("top_k")
    if raw is None:
        return None
    classes = len(state.model.labels) if state.model is not None else 10
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameterError(f"top_k must be an integer between 1 and {classes}, got {raw!r}") from None
    if not 1 <= value <= classes:
        raise InvalidParameterError(f"top_k must be an integer between 1 and {classes}, got {value}")
    return value
