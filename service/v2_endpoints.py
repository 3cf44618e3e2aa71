"""HTTP endpoints of the Open Inference Protocol (KServe V2); the codec lives in ``service.v2``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.contract import ModelInfo
from service.endpoints import service_state, single_image_limit
from service.errors import ModelNotFoundError
from service.uploads import read_body
from service.v2 import HEADER_LENGTH, encode_infer_response, model_metadata, parse_infer_request, server_metadata


def _model_info(request: Request) -> ModelInfo:
    """The served model's info, checking the model name (and version, when given) in the path."""
    info = service_state(request).loaded_model().info
    name = request.path_params["model_name"]
    version = request.path_params.get("model_version")
    if name != info.name:
        raise ModelNotFoundError(f"model {name!r} is not served here (this server serves {info.name!r})")
    if version is not None and version != info.version:
        raise ModelNotFoundError(f"model {name!r} has no version {version!r} (the served version is {info.version!r})")
    return info


async def server(request: Request) -> Response:
    """``GET /v2``: server metadata."""
    return JSONResponse(server_metadata(service_state(request).version))


async def live(request: Request) -> Response:
    """``GET /v2/health/live``."""
    return JSONResponse({"live": True})


async def ready(request: Request) -> Response:
    """``GET /v2/health/ready``: 503 until the model is warmed up, and while shutting down."""
    service_state(request).check_ready()
    return JSONResponse({"ready": True})


async def model_metadata_endpoint(request: Request) -> Response:
    """``GET /v2/models/{name}[/versions/{version}]``."""
    return JSONResponse(model_metadata(_model_info(request)))


async def model_ready(request: Request) -> Response:
    """``GET /v2/models/{name}[/versions/{version}]/ready``."""
    _model_info(request)
    service_state(request).check_ready()
    return JSONResponse({"name": request.path_params["model_name"], "ready": True})


async def infer(request: Request) -> Response:
    """``POST /v2/models/{name}[/versions/{version}]/infer``: JSON or binary tensors in, same out."""
    state = service_state(request)
    info = _model_info(request)
    pipeline = state.serving()
    with state.body_budget.reservation() as reservation:
        body = await read_body(request, single_image_limit(state.settings), reservation)
        parsed = parse_infer_request(
            body, request.headers.get(HEADER_LENGTH), max_images=state.settings.max_batch_images
        )
        probabilities = await pipeline.infer(parsed.images)
    content, headers = encode_infer_response(probabilities, info, parsed)
    return Response(content, headers=headers)
