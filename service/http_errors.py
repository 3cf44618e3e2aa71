"""The one place errors become HTTP responses: ``{"error": message, "code": code}`` with the right status."""

from __future__ import annotations

import logging
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from service.errors import ServiceError
from service.responses import JsonResponse

logger = logging.getLogger(__name__)

_HTTP_CODES: Final = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    503: "not_ready",
}


def error_response(status_code: int, message: str, code: str, headers: dict[str, str] | None = None) -> JsonResponse:
    """A JSON error response."""
    return JsonResponse({"error": message, "code": code}, status_code=status_code, headers=headers)


async def handle_service_error(request: Request, exc: Exception) -> Response:
    """Render an expected failure raised anywhere in the app."""
    assert isinstance(exc, ServiceError)
    if exc.status_code >= 500:
        logger.warning("request failed: %s", exc.message, extra={"code": exc.code})
    return error_response(exc.status_code, exc.message, exc.code, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Render Starlette's own errors (404 unknown path, 405 wrong method, 400 bad multipart) the same way."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, str(exc.detail), code, dict(exc.headers or {}))


async def send_internal_error(send: Send) -> None:
    """Answer an unexpected exception with a plain 500 that leaks nothing (the caller logs the traceback)."""
    response = error_response(500, "internal server error", "internal_error")
    await send({"type": "http.response.start", "status": 500, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
