"""multipart/form-data bodies to file uploads, with python-multipart's parser and nothing around it.

Starlette's form parser wraps every part in an ``UploadFile`` over a spooled temporary file and collects a
``FormData``: for a 1 KB image that costs about 2.5 times the parsing itself. Here the parser's callbacks
keep the bytes of the wanted file parts and count everything else against the same limits Starlette's
parser applies (files, fields, the size of plain fields, python-multipart's own header limits).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Final

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from service.errors import InvalidRequestError, ServiceError
from service.pipeline import Upload

MAX_FIELDS: Final = 100  # plain (non-file) fields: they are ignored, so a few are plenty
MAX_FIELD_BYTES: Final = 64 * 1024
# Parsing a header's parameters costs ~10 us (regular expressions): a client sends the same Content-Type and
# part headers request after request, so the last few parses are kept (a bounded cache: varying them only
# makes a client pay the parse itself).
PARSED_HEADERS_KEPT: Final = 256


@lru_cache(maxsize=PARSED_HEADERS_KEPT)
def header_options(value: bytes) -> dict[bytes, bytes]:
    """A header's parameters (``boundary``, ``name``, ``filename``), as python-multipart parses them."""
    return parse_options_header(value)[1]


def boundary_of(content_type: bytes) -> bytes:
    """The boundary parameter of a multipart Content-Type header (400 when there is none)."""
    boundary = header_options(content_type).get(b"boundary")
    if not boundary:
        raise InvalidRequestError("malformed multipart body: the Content-Type has no boundary")
    return boundary


class FormReader:
    """Feed a body's chunks to ``write``, call ``close``, then read ``uploads``: the file parts named one of
    ``field_names``, in order. A file past ``max_files`` raises ``too_many``; a malformed body is a 400."""

    def __init__(
        self, boundary: bytes, field_names: Collection[str], *, max_files: int, too_many: ServiceError
    ) -> None:
        self.uploads: list[Upload] = []
        self._field_names = field_names
        self._max_files = max_files
        self._too_many = too_many
        self._files = self._fields = self._field_bytes = 0
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._chunks: list[bytes] | None = None  # the wanted file part being read
        self._filename: str | None = None
        self._in_file = False
        callbacks = {
            "on_part_begin": self._part_begins,
            "on_header_field": self._header_name_arrives,
            "on_header_value": self._header_value_arrives,
            "on_header_end": self._header_ends,
            "on_headers_finished": self._headers_end,
            "on_part_data": self._data_arrives,
            "on_part_end": self._part_ends,
        }
        self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def write(self, chunk: bytes) -> None:
        """Parse the next chunk of the body."""
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise InvalidRequestError(f"malformed multipart body: {exc}") from None

    def close(self) -> None:
        """The body is complete: it must have ended with its closing boundary."""
        if self._parser.state != MultipartState.END:
            raise InvalidRequestError("malformed multipart body: it ends before its closing boundary")

    def _part_begins(self) -> None:
        self._headers = {}
        self._chunks = None
        self._in_file = False

    def _header_name_arrives(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_arrives(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_ends(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_end(self) -> None:
        disposition = self._headers.get(b"content-disposition")
        if disposition is None:
            raise InvalidRequestError("malformed multipart body: a part has no Content-Disposition header")
        options = header_options(disposition)
        filename = options.get(b"filename")
        if filename is None:
            self._fields += 1
            if self._fields > MAX_FIELDS:
                raise InvalidRequestError(f"malformed multipart body: more than {MAX_FIELDS} fields")
            return
        self._files += 1
        if self._files > self._max_files:
            raise self._too_many
        self._in_file = True
        if _text(options.get(b"name", b"")) in self._field_names:
            self._chunks = []
            self._filename = _text(filename)

    def _data_arrives(self, data: bytes, start: int, end: int) -> None:
        if self._chunks is not None:
            self._chunks.append(data[start:end])
        elif not self._in_file:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FIELD_BYTES:
                raise InvalidRequestError(f"malformed multipart body: a plain field is over {MAX_FIELD_BYTES} bytes")

    def _part_ends(self) -> None:
        if self._chunks is not None:
            data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            self.uploads.append(Upload(data, self._filename))
            self._chunks = None
        self._field_bytes = 0


def _text(raw: bytes) -> str:
    """A header parameter as text: UTF-8, as browsers send it, else Latin-1 (which decodes any bytes)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")
