"""TIFF directories, checked before Pillow parses them: in TIFF files and in the EXIF and MPF blocks of other formats.

Pillow parses a TIFF directory (IFD) tag by tag in Python, about 4 us a tag, and copies each tag's data out of the
file. It does so on the event loop: while an image is opened (a TIFF's first directory, a JPEG's EXIF and MPF
blocks), when admission reads the EXIF orientation, and when a decode turns the image upright and writes its
EXIF back (the Exif, GPS and Interop directories too). A 768 KB PNG whose EXIF held four 16,000-tag directories
held the loop 1.5 s, a 780 KB TIFF of 65,000 tags 0.36 s, a 66 KB JPEG with 5,400 EXIF tags 0.16 s, and a 1x1
TIFF whose 40 tags all point at the same 8 MiB copied 320 MiB.

So before Pillow sees them, each of those directories may hold at most ``max_tags`` entries
(``CIFAR10_MAX_IMAGE_TAGS``; real files hold tens), and the data its tags point at may add up to no more than the
bytes that hold it: tags of a real file do not share their data. The walk reads only the directories' headers and
entries (struct unpacks, no values), and a structure it cannot follow is left to Pillow, which refuses it at the
same cost.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

from service.errors import ImageTooLargeError

DEFAULT_MAX_TAGS: Final = 256  # CIFAR10_MAX_IMAGE_TAGS
TIFF_PREFIXES: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
EXIF_PREFIX: Final = b"Exif\x00\x00"
_MPF_PREFIX: Final = b"MPF\x00"
# Bytes per value of each TIFF field type (TIFF 6.0 and BigTIFF); Pillow skips entries of any other type.
_TYPE_BYTES: Final = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TYPE_BYTES_BIGTIFF: Final = {**_TYPE_BYTES, 16: 8, 17: 8, 18: 8}
# Tags pointing at the directories Pillow parses besides the first: Exif and GPS (from the first), Interop (from Exif).
_SUB_DIRECTORIES: Final = {0: (0x8769, 0x8825), 0x8769: (0xA005,)}
_JPEG_SOS: Final = 0xDA
_JPEG_APP1: Final = 0xE1
_JPEG_APP2: Final = 0xE2
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xDA)})  # TEM, RSTn, SOI, EOI


def check_tiff(blob: bytes, max_tags: int, what: str = "TIFF") -> None:
    """Refuse ``blob`` (a TIFF file or an EXIF block) when a directory Pillow would parse is over the limits."""
    prefix = blob[:4]
    if prefix not in TIFF_PREFIXES or len(blob) < 16:
        return
    walk = _Walk(blob, what, max_tags, little=prefix.startswith(b"II"), big=prefix[2:] in (b"+\x00", b"\x00+"))
    pending = [(0, walk.first_offset())]
    seen: set[int] = set()
    while pending:
        directory, offset = pending.pop()
        if offset not in seen:
            seen.add(offset)
            pending += walk.directory(offset, _SUB_DIRECTORIES.get(directory, ()))


def check_jpeg_metadata(data: bytes, max_tags: int) -> None:
    """Refuse a JPEG whose EXIF (APP1) or MPF (APP2) block is over the limits: Pillow parses both on open."""
    for what, blob in _jpeg_tiff_blocks(data):
        check_tiff(blob, max_tags, what)


def exif_payload(raw: bytes) -> bytes:
    """An EXIF block without the one or two ``Exif\\0\\0`` prefixes Pillow also strips."""
    for _ in range(2):
        if raw.startswith(EXIF_PREFIX):
            raw = raw[len(EXIF_PREFIX) :]
    return raw


class _Walk:
    """Reads the directories of one TIFF structure: classic (2-byte counts, 12-byte entries, 4 bytes inline) or
    BigTIFF (8-byte counts, 20-byte entries, 8 bytes inline)."""

    def __init__(self, blob: bytes, what: str, max_tags: int, *, little: bool, big: bool) -> None:
        self.blob = blob
        self.what = what
        self.max_tags = max_tags
        order = "<" if little else ">"
        self.offset_format = order + ("Q" if big else "I")
        self.count_format = order + ("Q" if big else "H")
        self.entry_format = order + ("HHQQ" if big else "HHII")
        self.inline = 8 if big else 4
        self.type_bytes = _TYPE_BYTES_BIGTIFF if big else _TYPE_BYTES
        self.first_at = 8 if big else 4

    def first_offset(self) -> int:
        """Where the first directory starts."""
        offset: int = struct.unpack_from(self.offset_format, self.blob, self.first_at)[0]
        return offset

    def directory(self, offset: int, pointer_tags: tuple[int, ...]) -> list[tuple[int, int]]:
        """Check the directory at ``offset``; return (tag, offset) of the sub-directories it points at."""
        try:
            (count,) = struct.unpack_from(self.count_format, self.blob, offset)
        except struct.error:
            return []  # no directory there: Pillow refuses the file
        if count > self.max_tags:
            raise ImageTooLargeError(
                f"a directory of this {self.what} has {count} tags, over the limit of {self.max_tags} "
                "(CIFAR10_MAX_IMAGE_TAGS; each is parsed one at a time, real images hold tens)"
            )
        pointed = 0
        pointers: list[tuple[int, int]] = []
        for tag, field_type, values, value in self._entries(offset + struct.calcsize(self.count_format), count):
            size = values * self.type_bytes.get(field_type, 0)
            if size > self.inline:
                pointed += size
            elif tag in pointer_tags:
                pointers.append((tag, value))
        if pointed > len(self.blob):
            raise ImageTooLargeError(
                f"the tags of a directory of this {self.what} point at {pointed} bytes of data, more than the "
                f"{len(self.blob)} bytes it has: its tags share their data, and each would be copied"
            )
        return pointers

    def _entries(self, start: int, count: int) -> Iterator[tuple[int, int, int, int]]:
        size = struct.calcsize(self.entry_format)
        for index in range(count):
            try:
                yield struct.unpack_from(self.entry_format, self.blob, start + index * size)
            except struct.error:
                return  # truncated: Pillow stops here too


def _jpeg_tiff_blocks(data: bytes) -> Iterator[tuple[str, bytes]]:
    """The EXIF and MPF blocks of a JPEG's header segments (before its first scan)."""
    position = 2  # after SOI
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return  # not a marker: Pillow's own parser decides
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == _JPEG_SOS:
            return
        if marker in _STANDALONE:  # no length field
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        payload = data[position + 4 : position + 2 + length]
        if marker == _JPEG_APP1 and payload.startswith(EXIF_PREFIX):
            yield "JPEG's EXIF block", exif_payload(payload)
        elif marker == _JPEG_APP2 and payload.startswith(_MPF_PREFIX):
            yield "JPEG's MPF block", payload[len(_MPF_PREFIX) :]
        position += 2 + length
