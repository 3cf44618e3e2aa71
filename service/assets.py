"""The browser pages' files: the page at ``/`` with its CSS and script, and ``/docs`` (Swagger UI, whose files come
from the swagger-ui-py package, so the docs work offline and nothing is loaded from a CDN).

Only the files listed here are served, with a Content-Security-Policy that allows scripts and styles from this
origin alone: nothing on either page is inline.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from service.errors import ServiceError

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
PAGE_SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}
_MEDIA_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


class AssetNotFoundError(ServiceError):
    """A page file that is not served (or not installed)."""

    status_code = 404
    code = "not_found"


def swagger_ui_dir() -> Path | None:
    """Swagger UI's files inside the installed swagger-ui-py package (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def page_assets() -> dict[str, Path]:
    """``/static/<name>``: the page's own files."""
    return {name: STATIC_DIR / name for name in ("page.css", "page.js")}


def docs_assets() -> dict[str, Path]:
    """``/docs/<name>``: Swagger UI's bundle and style sheet, and the script that starts it on ``/openapi.json``."""
    assets = {"docs.js": STATIC_DIR / "docs.js"}
    swagger = swagger_ui_dir()
    if swagger is not None:
        assets |= {name: swagger / name for name in ("swagger-ui-bundle.js", "swagger-ui.css")}
    return assets


def serve_file(assets: Mapping[str, Path], name: str) -> Response:
    """One listed file, cacheable for an hour; 404 for anything else."""
    path = assets.get(name)
    if path is None or not path.is_file():
        raise AssetNotFoundError(f"no such file: {name}")
    headers = {"cache-control": "public, max-age=3600", **_without_cache_control(PAGE_SECURITY_HEADERS)}
    return FileResponse(path, media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"), headers=headers)


async def docs_page(request: Request) -> Response:
    """``GET /docs``: Swagger UI on this service's OpenAPI document."""
    return FileResponse(STATIC_DIR / "docs.html", media_type="text/html", headers=PAGE_SECURITY_HEADERS)


async def page_file(request: Request) -> Response:
    """``GET /static/{name}``."""
    return serve_file(request.app.state.page_assets, request.path_params["name"])


async def docs_file(request: Request) -> Response:
    """``GET /docs/{name}``."""
    return serve_file(request.app.state.docs_assets, request.path_params["name"])


def _without_cache_control(headers: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key != "cache-control"}
