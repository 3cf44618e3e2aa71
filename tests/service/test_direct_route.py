"""DirectRoute: the hot POST route answered before the router, everything else passed through untouched."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from service.direct_route import DirectRoute
from service.errors import InvalidImageError

seen: list[dict[str, Any]] = []


async def predict(request: Request) -> Response:
    body = await request.body()
    if body == b"bad":
        raise InvalidImageError("not an image")
    if body == b"http":
        raise HTTPException(400, "bad form")
    if body == b"bug":
        raise RuntimeError("a bug")
    seen.append({"route": request.scope["route"].path, "endpoint": request.scope["endpoint"]})
    return JSONResponse({"bytes": len(body)})


class RouterSpy:
    """Stands in for the app below DirectRoute: records what reached it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


def build(root_path: str = "") -> tuple[TestClient, list[RouterSpy]]:
    route = Route("/predict", predict, methods=["POST"])
    spies: list[RouterSpy] = []

    def spy(app: Any) -> RouterSpy:
        spies.append(RouterSpy(app))
        return spies[-1]

    app = Starlette(
        routes=[route, Route("/other", predict, methods=["POST"])],
        middleware=[Middleware(DirectRoute, route=route), Middleware(spy)],
    )
    return TestClient(app, root_path=root_path, raise_server_exceptions=False), spies


@pytest.fixture(autouse=True)
def _clean() -> None:
    seen.clear()


def test_the_hot_route_is_answered_without_reaching_the_router() -> None:
    client, spies = build()
    with client:
        response = client.post("/predict", content=b"12345")
        assert response.json() == {"bytes": 5}
        assert spies[0].paths == []  # nothing below DirectRoute saw it
        assert seen == [{"route": "/predict", "endpoint": predict}]  # labelled as the router would have
        assert client.post("/other", content=b"1").status_code == 200
        assert client.get("/predict").status_code == 405  # other methods: Starlette's own answer
        assert spies[0].paths == [("POST", "/other"), ("GET", "/predict")]


def test_expected_errors_render_through_the_service_handlers() -> None:
    client, _ = build()
    with client:
        response = client.post("/predict", content=b"bad")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_image"
        response = client.post("/predict", content=b"http")
        assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


def test_an_unexpected_error_propagates_to_the_middleware_above() -> None:
    client, _ = build()
    with client:
        assert client.post("/predict", content=b"bug").status_code == 500  # Starlette's ServerErrorMiddleware


def test_a_root_path_prefix_is_matched_like_the_router_does() -> None:
    client, spies = build(root_path="/api")
    with client:
        assert client.post("/api/predict", content=b"12").json() == {"bytes": 2}
        assert spies[0].paths == []
        assert client.post("/apipredict", content=b"12").status_code == 404
        assert [path for _, path in spies[0].paths] == ["/apipredict"]
