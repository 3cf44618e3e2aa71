"""HTTP endpoints of the Open Inference Protocol (KServe V2); the codec lives in ``service.v2``."""

from __future__ import annotations

from functools import partial
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from service.contract import ModelInfo
from service.endpoints import service_state, single_image_limit
from service.errors import ModelNotFoundError
from service.responses import JsonResponse
from service.uploads import read_body
from service.v2 import (
    HEADER_LENGTH,
    encode_infer_response,
    model_config,
    model_metadata,
    parse_infer_request,
    repository_index,
    server_metadata,
)

INLINE_PARSE_BYTES: Final = 256 * 1024


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
    return JsonResponse(server_metadata(service_state(request).version))


async def live(request: Request) -> Response:
    """``GET /v2/health/live``."""
    return JsonResponse({"live": True})


async def ready(request: Request) -> Response:
    """``GET /v2/health/ready``: 503 until the model is warmed up, and while shutting down."""
    service_state(request).check_ready()
    return JsonResponse({"ready": True})


async def model_metadata_endpoint(request: Request) -> Response:
    """``GET /v2/models/{name}[/versions/{version}]``."""
    return JsonResponse(model_metadata(_model_info(request)))


async def model_ready(request: Request) -> Response:
    """``GET /v2/models/{name}[/versions/{version}]/ready``."""
    _model_info(request)
    service_state(request).check_ready()
    return JsonResponse({"name": request.path_params["model_name"], "ready": True})


async def infer(request: Request) -> Response:
    """``POST /v2/models/{name}[/versions/{version}]/infer``: JSON or binary tensors in, same out."""
    state = service_state(request)
    info = _model_info(request)
    pipeline = state.serving()
    with state.body_budget.reservation() as reservation:
        body = await read_body(request, single_image_limit(state.settings), reservation, state.metrics.stages)
        parse = partial(
            parse_infer_request, body, request.headers.get(HEADER_LENGTH), max_images=state.settings.max_batch_images
        )
        # A JSON tensor of 64 images takes ~40 ms to parse: big bodies are parsed off the event loop.
        decoders = state.decoders
        if decoders is not None and len(body) > INLINE_PARSE_BYTES:
            parsed = await decoders.run(parse, heavy=True)  # a big JSON becomes many small objects, then frees them
        else:
            parsed = parse()
        probabilities = await pipeline.infer(parsed.images)
    content, headers = encode_infer_response(probabilities, info, parsed)
    return Response(content, headers=headers)


async def model_config_endpoint(request: Request) -> Response:
    """``GET /v2/models/{name}[/versions/{version}]/config``: Triton's model configuration."""
    state = service_state(request)
    settings = state.settings
    return JsonResponse(
        model_config(
            _model_info(request),
            max_batch_size=settings.max_batch_size,
            batching=settings.batching,
            max_wait_ms=state.batch_wait_ms(),
        )
    )


async def statistics(request: Request) -> Response:
    """``GET /v2/models[/{name}[/versions/{version}]]/stats``: inference counts and cumulative times."""
    state = service_state(request)
    info = _model_info(request) if "model_name" in request.path_params else state.loaded_model().info
    return JsonResponse(state.metrics.statistics.document(info.name, info.version))


async def repository(request: Request) -> Response:
    """``POST /v2/repository/index``."""
    return JsonResponse(repository_index(service_state(request).loaded_model().info))
