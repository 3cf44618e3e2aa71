"""Read request bodies under a byte limit while streaming (413 without reading the rest) and within the
memory budget for all bodies (503 when it is spent), and pick image uploads out of raw or multipart bodies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

from starlette.requests import ClientDisconnect, Request

from service.errors import (
    InvalidRequestError,
    OverloadedError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from service.multipart import FormReader, boundary_of
from service.pipeline import Upload
from service.stages import StageClock

MULTIPART: Final = "multipart/form-data"
RAW_IMAGE_TYPES_HINT: Final = "image/* or application/octet-stream"
BODY_MEMORY_SETTING: Final = "CIFAR10_MAX_BODY_MEMORY_BYTES"


class BodyBudget:
    """Request-body bytes held in memory at once, over all requests of this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def reservation(self) -> Reservation:
        """A reservation for one request's body, given back when the request is done with it."""
        return Reservation(self)


@dataclass(slots=True)
class Reservation:
    """The body bytes one request holds; use as a context manager around the whole handler."""

    budget: BodyBudget
    held: int = field(default=0)

    def take(self, count: int) -> None:
        """Hold ``count`` more bytes, or 503 when the budget for all bodies has no room for them."""
        if self.budget.held + count > self.budget.limit:
            raise OverloadedError(
                f"the server holds {self.budget.held} bytes of request bodies and has room for "
                f"{self.budget.limit} ({BODY_MEMORY_SETTING}); retry later",
                headers={"Retry-After": "1"},
            )
        self.budget.held += count
        self.held += count

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.budget.held -= self.held
        self.held = 0


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """The largest body an endpoint takes, and the setting that raises it (named in the 413)."""

    max_bytes: int
    setting: str


def raw_header(request: Request, name: bytes) -> bytes | None:
    """One request header's value as sent (the raw list: cheaper than building Headers for one lookup)."""
    headers: list[tuple[bytes, bytes]] = request.scope["headers"]
    return next((value for key, value in headers if key == name), None)


def media_type(content_type: bytes | None) -> str:
    """A Content-Type header's media type without parameters, lower-cased ('' when absent)."""
    return "" if content_type is None else content_type.decode("latin-1").split(";", 1)[0].strip().lower()


def is_raw_image(content_type: str) -> bool:
    """Whether a body with this content type is taken as the image bytes themselves."""
    return content_type.startswith("image/") or content_type == "application/octet-stream"


async def read_image(request: Request, limit: BodyLimit, reservation: Reservation, stages: StageClock) -> Upload:
    """The one image of a ``/predict`` request: a raw image body, or the multipart field ``file``."""
    header = raw_header(request, b"content-type")
    content_type = media_type(header)
    if is_raw_image(content_type):
        return Upload(await read_body(request, limit, reservation, stages))
    if content_type != MULTIPART:
        raise UnsupportedMediaTypeError(
            f"unsupported content type {content_type or 'none'!r}: send multipart/form-data with a 'file' field "
            f"or a raw body with {RAW_IMAGE_TYPES_HINT}"
        )
    one_file = InvalidRequestError("/predict takes one image; send several as repeated 'files' to /predict/batch")
    form = FormReader(boundary_of(header or b""), ("file", "files"), max_files=1, too_many=one_file)
    (upload,) = await _read_form(request, form, limit, reservation, stages, missing="no file in the field 'file'")
    return upload


async def read_images(
    request: Request, limit: BodyLimit, reservation: Reservation, stages: StageClock, *, max_files: int
) -> list[Upload]:
    """The images of a ``/predict/batch`` request: repeated multipart ``files`` (or ``file``) fields, in order."""
    header = raw_header(request, b"content-type")
    content_type = media_type(header)
    if content_type != MULTIPART:
        raise UnsupportedMediaTypeError(f"expected {MULTIPART}, got {content_type or 'no content type'!r}")
    too_many = PayloadTooLargeError(
        f"too many files in one request (the limit is {max_files}, CIFAR10_MAX_BATCH_IMAGES)"
    )
    form = FormReader(boundary_of(header or b""), ("files", "file"), max_files=max_files, too_many=too_many)
    return await _read_form(request, form, limit, reservation, stages, missing="no files in the field 'files'")


async def read_body(request: Request, limit: BodyLimit, reservation: Reservation, stages: StageClock) -> bytes:
    """Read the whole body, refusing with 413 as soon as it is known to exceed the limit."""
    chunks: list[bytes] = []
    await _receive(request, limit, reservation, chunks.append, stages)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _receive(
    request: Request,
    limit: BodyLimit,
    reservation: Reservation,
    consume: Callable[[bytes], object],
    stages: StageClock,
) -> None:
    """Hand each chunk of the body to ``consume`` as it arrives, under the byte limit and the memory budget.

    The ``parse`` stage is the work on each chunk, not the wait for it: while this request waits, the event loop
    runs other requests' work (and, on a one-CPU worker, whole batches), which must not count here."""
    meter = _BodyMeter(request, limit, reservation)
    while True:  # the ASGI messages themselves: no generator layers on the hot path
        message = await request.receive()
        started = stages.start()
        try:
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk = message.get("body", b"")
            if chunk:
                meter.count(chunk)
                consume(chunk)
            if not message.get("more_body", False):
                return
        finally:
            stages.stop("parse", started)


class _BodyMeter:
    """Holds a body's bytes in the reservation as they arrive.

    413 from the declared Content-Length, or once more than the limit arrived; 503 when the memory budget for
    all bodies cannot hold this one. Bytes are held as they arrive, not as declared: a client that announces a
    large body and trickles it holds only what it sent.
    """

    def __init__(self, request: Request, limit: BodyLimit, reservation: Reservation) -> None:
        self.limit = limit
        self.reservation = reservation
        self.received = 0
        raw = raw_header(request, b"content-length")
        if raw is None:
            return
        declared = raw.decode("latin-1")
        try:
            declared_bytes = int(declared)
        except ValueError:
            raise InvalidRequestError(f"invalid Content-Length {declared!r}") from None
        if declared_bytes > limit.max_bytes:
            raise PayloadTooLargeError(
                f"request body of {declared_bytes} bytes is over the limit of {limit.max_bytes} bytes ({limit.setting})"
            )

    def count(self, chunk: bytes) -> None:
        """Account for one more chunk: held twice (the chunks, then the joined body or the parsed parts)."""
        self.received += len(chunk)
        if self.received > self.limit.max_bytes:
            raise PayloadTooLargeError(
                f"request body is over the limit of {self.limit.max_bytes} bytes ({self.limit.setting})"
            )
        self.reservation.take(2 * len(chunk))


async def _read_form(
    request: Request, form: FormReader, limit: BodyLimit, reservation: Reservation, stages: StageClock, *, missing: str
) -> list[Upload]:
    """The uploads ``form`` picks out of the body (fed to it as it arrives: never joined); 400 when none."""
    await _receive(request, limit, reservation, form.write, stages)
    form.close()
    if not form.uploads:
        raise InvalidRequestError(f"multipart body has {missing}")
    return form.uploads
