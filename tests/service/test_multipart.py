"""multipart/form-data to uploads: the wanted file parts in order, and the limits a form must keep."""

from __future__ import annotations

import pytest

from service.errors import InvalidRequestError, PayloadTooLargeError
from service.multipart import MAX_FIELD_BYTES, MAX_FIELDS, FormReader, boundary_of

BOUNDARY = b"test-boundary-42"
TOO_MANY = PayloadTooLargeError("too many files")


def part(name: str, content: bytes, filename: str | None = None, *, disposition: bool = True) -> bytes:
    head = b""
    if disposition:
        head = b'Content-Disposition: form-data; name="%s"' % name.encode()
        if filename is not None:
            head += b'; filename="%s"' % filename.encode()
        head += b"\r\n"
    return b"--" + BOUNDARY + b"\r\n" + head + b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def read(
    data: bytes, *, names: tuple[str, ...] = ("file",), max_files: int = 8, chunk: int | None = None
) -> FormReader:
    form = FormReader(BOUNDARY, names, max_files=max_files, too_many=TOO_MANY)
    step = chunk or len(data)
    for start in range(0, len(data), step):
        form.write(data[start : start + step])
    form.close()
    return form


def test_the_wanted_file_parts_in_order_whatever_the_chunking() -> None:
    data = body(
        part("note", b"a plain field"),
        part("file", b"\xff\xd8first\r\n--not-the-boundary", "a.jpg"),
        part("other", b"ignored", "x.bin"),
        part("file", b"second", "bé.png"),
    )
    for chunk in (None, 1, 7, 64):
        uploads = read(data, chunk=chunk).uploads
        assert [(upload.data, upload.filename) for upload in uploads] == [
            (b"\xff\xd8first\r\n--not-the-boundary", "a.jpg"),
            (b"second", "bé.png"),  # UTF-8 file names, as browsers send them
        ]


def test_files_past_the_limit_raise_the_callers_error() -> None:
    data = body(part("file", b"1", "1.jpg"), part("file", b"2", "2.jpg"))
    with pytest.raises(PayloadTooLargeError) as caught:
        read(data, max_files=1)
    assert caught.value is TOO_MANY


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (body(*(part(f"f{index}", b"x") for index in range(MAX_FIELDS + 1))), f"more than {MAX_FIELDS} fields"),
        (body(part("note", b"x" * (MAX_FIELD_BYTES + 1))), f"over {MAX_FIELD_BYTES} bytes"),
        (body(part("file", b"x", disposition=False)), "no Content-Disposition"),
        (body(part("file", b"x", "a.jpg"))[:-10], "before its closing boundary"),
        (b"no boundary at all", "malformed multipart body"),
        (b"--" + BOUNDARY + b"\r\nX-" + b"a" * 10_000 + b": 1\r\n\r\n", "malformed multipart body"),
    ],
    ids=["too-many-fields", "big-plain-field", "no-disposition", "truncated", "not-multipart", "huge-header"],
)
def test_a_malformed_or_oversized_form_is_a_400(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidRequestError, match=fragment):
        read(data)


def test_the_boundary_comes_from_the_content_type() -> None:
    assert boundary_of(b"multipart/form-data; boundary=abc") == b"abc"
    assert boundary_of(b'multipart/form-data; boundary="a b"') == b"a b"
    with pytest.raises(InvalidRequestError, match="no boundary"):
        boundary_of(b"multipart/form-data")
