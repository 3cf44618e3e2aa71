"""Read request bodies under a byte limit while streaming (413 without reading the rest), and pick image
uploads out of raw or multipart bodies."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Final

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from service.errors import InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

MULTIPART: Final = "multipart/form-data"
RAW_IMAGE_TYPES_HINT: Final = "image/* or application/octet-stream"


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: its bytes and the name the client gave it."""

    data: bytes
    filename: str | None


def media_type(request: Request) -> str:
    """The request's content type without parameters, lower-cased ('' when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_raw_image(content_type: str) -> bool:
    """Whether a body with this content type is taken as the image bytes themselves."""
    return content_type.startswith("image/") or content_type == "application/octet-stream"


async def read_body(request: Request, limit: int) -> bytes:
    """Read the whole body, refusing with 413 as soon as it is known to exceed ``limit`` bytes."""
    chunks = [chunk async for chunk in limited_stream(request, limit)]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """Yield the body's chunks; raise 413 from the declared Content-Length or once more than ``limit`` arrived."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise InvalidRequestError(f"invalid Content-Length {declared!r}") from None
        if length > limit:
            raise PayloadTooLargeError(f"request body of {length} bytes is over the limit of {limit} bytes")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes")
        if chunk:
            yield chunk


async def read_uploads(request: Request, *, field_names: Sequence[str], limit: int, max_files: int) -> list[Upload]:
    """Parse a multipart body and return the files under ``field_names`` in the order they were sent."""
    if media_type(request) != MULTIPART:
        raise UnsupportedMediaTypeError(f"expected {MULTIPART}, got {media_type(request) or 'no content type'!r}")
    parser = MultiPartParser(
        request.headers,
        limited_stream(request, limit),
        max_files=max_files,
        max_fields=100,
        max_part_size=64 * 1024,  # plain (non-file) fields: they are ignored, so keep them small
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if exc.message.startswith("Too many files"):
            raise PayloadTooLargeError(f"too many files in one request (the limit is {max_files})") from None
        raise InvalidRequestError(f"malformed multipart body: {exc.message}") from None
    try:
        uploads = []
        for name, value in form.multi_items():
            if name in field_names and isinstance(value, UploadFile):
                uploads.append(Upload(await value.read(), value.filename))
        return uploads
    finally:
        await form.close()
