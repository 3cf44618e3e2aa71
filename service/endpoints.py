"""The HTTP endpoints of the service's own API: predict, batch predict, health, readiness, model, metrics, page.

Transport only: each reads its request, hands the images to the pipeline and writes the pipeline's answer.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from service import contract
from service.assets import PAGE_SECURITY_HEADERS
from service.errors import InvalidParameterError, ServiceError
from service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from service.responses import JsonResponse
from service.runtime import ONNXRUNTIME_VERSION
from service.settings import Settings
from service.state import ServiceState
from service.uploads import BodyLimit, read_image, read_images


def service_state(request: Request) -> ServiceState:
    """The app's state object."""
    state: ServiceState = request.app.state.service
    return state


async def index(request: Request) -> Response:
    """``GET /``: the page for trying the model by hand."""
    return Response(service_state(request).index_html, media_type="text/html", headers=PAGE_SECURITY_HEADERS)


async def health(request: Request) -> Response:
    """``GET /health``: liveness (the process answers)."""
    return JsonResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """``GET /ready``: 200 once the model is loaded and warmed up, 503 before that and while shutting down."""
    service_state(request).check_ready()
    return JsonResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus exposition."""
    return Response(service_state(request).metrics.render(), headers={"content-type": METRICS_CONTENT_TYPE})


async def model(request: Request) -> Response:
    """``GET /model``: what is being served and how."""
    state = service_state(request)
    loaded = state.loaded_model()
    info, session = loaded.info, loaded.config
    settings = state.settings
    return JsonResponse(
        {
            "name": info.name,
            "version": info.version,
            "sha256": info.sha256,
            "file": info.file,
            "precision": info.precision,
            "labels": list(info.labels),
            "input": {**info.tensors()["inputs"][0], "layout": contract.LAYOUT},
            "output": info.tensors()["outputs"][0],
            "input_contract": info.input_contract,
            "preprocessing": info.preprocessing,
            "resize": settings.resize,
            "metadata": dict(info.metadata),
            "onnxruntime_version": ONNXRUNTIME_VERSION,
            "threads": {"intra_op": session.intra_op_threads, "inter_op": session.inter_op_threads},
            "session": {
                "allow_spinning": session.allow_spinning,
                "memory_arena": session.memory_arena,
                "graph_optimization": session.graph_optimization,
            },
            "batching": {
                "enabled": settings.batching,
                "max_batch_size": settings.max_batch_size,
                "max_batch_wait_ms": state.batch_wait_ms(),
                "max_queue": settings.max_queue,
            },
            "thresholds": {
                "high_confidence": settings.high_confidence,
                "low_confidence": settings.low_confidence,
                "reject_below": settings.reject_below,
            },
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_batch_upload_bytes": settings.max_batch_upload_bytes,
                "max_image_pixels": settings.max_image_pixels,
                "max_decode_bytes": settings.max_decode_bytes,
                "max_jpeg_scans": settings.max_jpeg_scans,
                "max_image_tags": settings.max_image_tags,
                "max_batch_images": settings.max_batch_images,
                "request_timeout_s": settings.request_timeout_s,
            },
        }
    )


async def predict(request: Request) -> Response:
    """``POST /predict``: one image as multipart field ``file`` or as a raw image body."""
    state = service_state(request)
    pipeline = state.serving()
    top_k = _top_k(request, len(pipeline.labels))
    stages = state.metrics.stages
    with state.body_budget.reservation() as reservation:
        upload = await read_image(request, single_image_limit(state.settings), reservation, stages)
        (outcome,) = await pipeline.classify([upload], top_k=top_k)
    if isinstance(outcome, ServiceError):
        raise outcome
    started = stages.start()
    response = JsonResponse(outcome)
    stages.stop("answer", started)
    return response


async def predict_batch(request: Request) -> Response:
    """``POST /predict/batch``: repeated multipart ``files`` (or ``file``) fields, answered in order."""
    state = service_state(request)
    pipeline = state.serving()
    top_k = _top_k(request, len(pipeline.labels))
    settings = state.settings
    limit = BodyLimit(settings.max_batch_upload_bytes, "CIFAR10_MAX_BATCH_UPLOAD_BYTES")
    with state.body_budget.reservation() as reservation:
        uploads = await read_images(
            request, limit, reservation, state.metrics.stages, max_files=settings.max_batch_images
        )
        outcomes = await pipeline.classify(uploads, top_k=top_k)
    results = [
        _image_error(outcome, upload.filename) if isinstance(outcome, ServiceError) else outcome
        for upload, outcome in zip(uploads, outcomes, strict=True)
    ]
    return JsonResponse({"results": results})


def single_image_limit(settings: Settings) -> BodyLimit:
    """The body limit of ``/predict`` and V2 inference."""
    return BodyLimit(settings.max_upload_bytes, "CIFAR10_MAX_UPLOAD_BYTES")


def _image_error(exc: ServiceError, filename: str | None) -> dict[str, Any]:
    return {"error": exc.message, "code": exc.code, "status": exc.status_code, "filename": filename}


def _top_k(request: Request, classes: int) -> int | None:
    if not request.scope["query_string"]:
        return None  # the common case: no query to parse
    raw = request.query_params.get("top_k")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameterError(f"top_k must be an integer between 1 and {classes}, got {raw!r}") from None
    if not 1 <= value <= classes:
        raise InvalidParameterError(f"top_k must be an integer between 1 and {classes}, got {value}")
    return value
