"""Assemble the Starlette app: routes, error handlers, middleware, and a lifespan that loads, warms up and
drains the model."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service import assets, endpoints, v2_endpoints
from service.batching import AdaptiveBatcher
from service.decoding import DecodePool
from service.direct_route import DirectRoute
from service.errors import ServiceError
from service.http_errors import handle_http_exception, handle_service_error
from service.logs import configure_logging
from service.memory import tune_allocator, tune_garbage_collector
from service.metrics import Metrics
from service.middleware import RequestContextMiddleware
from service.pipeline import batch_wait_s, batches_on_loop, build_pipeline, load_model, warm_up_sizes
from service.responses import JsonResponse
from service.runtime import OnnxModel
from service.settings import Settings
from service.shutdown import LameDuck
from service.state import CONNECTIONS_KEY, ServiceState
from service.uploads import BodyBudget

logger = logging.getLogger(__name__)

ModelLoader = Callable[[Settings], OnnxModel]

INDEX_PATH: Final = Path(__file__).parent / "static" / "index.html"
OPENAPI_PATH: Final = Path(__file__).parent / "openapi.json"
# Served when the page file is missing (e.g. an install without package data): the API still works.
FALLBACK_PAGE: Final = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>CIFAR-10 classifier</title>"
    b"<p>The web page is not installed. POST an image to <code>/predict</code>; "
    b"see <a href=/openapi.json>/openapi.json</a>.</p></html>"
)
PACKAGE_NAME: Final = "cifar10-serving"
PREDICT_PATH: Final = "/predict"


def package_version() -> str:
    """The installed package's version (``0+unknown`` when running from an uninstalled checkout)."""
    try:
        return metadata.version(PACKAGE_NAME)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def read_index_page(path: Path = INDEX_PATH) -> bytes:
    """The web page's HTML, or a minimal placeholder when the file is missing."""
    try:
        return path.read_bytes()
    except OSError:
        logger.warning("web page %s is missing; serving a placeholder", path)
        return FALLBACK_PAGE


def load_openapi(version: str, path: Path = OPENAPI_PATH) -> dict[str, Any]:
    """The OpenAPI document (a data file beside this module), stamped with the package version."""
    document: dict[str, Any] = json.loads(path.read_text())
    document["info"]["version"] = version
    return document


def _routes() -> list[Route]:
    model_paths = ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}")
    routes = [
        # The hot route: DirectRoute answers its POSTs before the router (see service/direct_route.py).
        Route(PREDICT_PATH, endpoints.predict, methods=["POST"]),
        Route("/predict/batch", endpoints.predict_batch, methods=["POST"]),
        Route("/", endpoints.index, methods=["GET"]),
        Route("/static/{name}", assets.page_file, methods=["GET"]),
        Route("/docs", assets.docs_page, methods=["GET"]),
        Route("/docs/{name}", assets.docs_file, methods=["GET"]),
        Route("/health", endpoints.health, methods=["GET"]),
        Route("/ready", endpoints.ready, methods=["GET"]),
        Route("/metrics", endpoints.metrics, methods=["GET"]),
        Route("/model", endpoints.model, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
        Route("/v2", v2_endpoints.server, methods=["GET"]),
        Route("/v2/health/live", v2_endpoints.live, methods=["GET"]),
        Route("/v2/health/ready", v2_endpoints.ready, methods=["GET"]),
        Route("/v2/models/stats", v2_endpoints.statistics, methods=["GET"]),
        Route("/v2/repository/index", v2_endpoints.repository, methods=["POST"]),
    ]
    for path in model_paths:
        routes += [
            Route(path, v2_endpoints.model_metadata_endpoint, methods=["GET"]),
            Route(path + "/ready", v2_endpoints.model_ready, methods=["GET"]),
            Route(path + "/infer", v2_endpoints.infer, methods=["POST"]),
            Route(path + "/config", v2_endpoints.model_config_endpoint, methods=["GET"]),
            Route(path + "/stats", v2_endpoints.statistics, methods=["GET"]),
        ]
    return routes


async def _openapi(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return JsonResponse(document)


def create_app(settings: Settings, model_loader: ModelLoader = load_model) -> Starlette:
    """Build the app; the model is loaded, warmed up and handed to the batcher when the lifespan starts."""
    state = ServiceState(
        settings=settings,
        metrics=Metrics(multiprocess=settings.workers > 1, stage_timing_one_in=settings.stage_timing_one_in),
        body_budget=BodyBudget(settings.max_body_memory_bytes),
        index_html=read_index_page(),
        version=package_version(),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await _start(state, model_loader)
        lag_probe = asyncio.create_task(state.metrics.watch_event_loop(), name="event-loop-lag")
        lame_duck = LameDuck(settings.drain_s, state.begin_draining)
        lame_duck.install()
        try:
            yield {CONNECTIONS_KEY: state.connections}
        finally:
            lame_duck.uninstall()
            lag_probe.cancel()
            await _stop(state)

    routes = _routes()
    middleware = [Middleware(RequestContextMiddleware, state=state)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "Inference-Header-Content-Length"],
            )
        )
    # Innermost: CORS and the request context apply to the hot route as to every other.
    middleware.append(Middleware(DirectRoute, route=next(r for r in routes if r.path == PREDICT_PATH)))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ServiceError: handle_service_error, HTTPException: handle_http_exception},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # /predict/ is a JSON 404, not an empty 307 a POST client may not follow
    app.state.service = state
    app.state.openapi = load_openapi(state.version)
    app.state.page_assets = assets.page_assets()
    app.state.docs_assets = assets.docs_assets()
    return app


def create_app_from_environ() -> Starlette:
    """Factory for ``uvicorn --factory`` (one call per worker process): settings from the environment."""
    settings = Settings.from_environ(os.environ)
    configure_logging(settings.log_level)
    tune_allocator()
    app = create_app(settings)
    tune_garbage_collector()  # what importing and building the app made lives as long as the worker
    return app


async def _start(state: ServiceState, model_loader: ModelLoader) -> None:
    settings = state.settings
    # Loading parses and optimises the graph: off the event loop, so /health answers meanwhile.
    model = await asyncio.to_thread(model_loader, settings)
    await asyncio.to_thread(model.warm_up, warm_up_sizes(settings))
    on_loop = batches_on_loop(settings)
    batcher = AdaptiveBatcher(
        model.predict,
        enabled=settings.batching,
        max_batch_size=settings.max_batch_size,
        max_wait_s=batch_wait_s(settings, on_loop),
        max_queue=settings.max_queue,
        observer=state.metrics,
        alone=state.alone,
        clients=lambda: state.connections.open or None,  # 0: a server that does not count them
        inline_batches=on_loop,
    )
    await batcher.start()
    decoders = DecodePool(settings.decode_workers, settings.max_decode_queue)
    decoders.start()
    state.metrics.watch(
        in_flight=lambda: state.in_flight,
        inference_queue=lambda: batcher.queue_depth,
        decode_queue=lambda: decoders.depth,
        body_memory=lambda: state.body_budget.held,
    )
    info = model.info
    state.metrics.model_info.labels(info.name, info.version, info.precision).set(1)
    state.model, state.batcher, state.decoders = model, batcher, decoders
    state.pipeline = build_pipeline(
        settings, batcher.predict, model.labels, decoders=decoders, observer=state.metrics, stages=state.metrics.stages
    )
    state.ready = True
    logger.info(
        "model ready",
        extra={
            "model": info.name,
            "version": info.version,
            "precision": info.precision,
            "path": str(model.path),
            "batches_run_on": "the event loop" if batcher.inline_batches and settings.batching else "a thread",
        },
    )


async def _stop(state: ServiceState) -> None:
    state.ready = False  # readiness turns red first, so load balancers stop sending
    if state.decoders is not None:
        await state.decoders.stop()
    if state.batcher is not None:
        await state.batcher.stop()
    logger.info("inference drained, shut down")
