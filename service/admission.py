"""Admission: what decoding an image will cost, decided from its header alone, before any pixel is decoded.

``Image.open`` parses only the header: the format, the pixel mode, the size and (for JPEG) the component
sampling. From those and a cheap count of the JPEG scan markers this module estimates the memory the decode
will take (pixel buffers, JPEG coefficient buffers, the copies a conversion makes) and refuses an image over
a limit with a 413 that names the limit and the setting that raises it. An admitted image carries its plan:
the opened image, its estimated cost, and whether it is cheap enough to decode on the event loop.

The estimates are held against measured peaks of real decodes by ``tests/service/test_admission.py``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import simplejpeg
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from service.errors import ImageTooLargeError, InvalidImageError
from service.tiff_directories import (
    DEFAULT_MAX_TAGS,
    EXIF_PREFIX,
    TIFF_PREFIXES,
    check_jpeg_metadata,
    check_tiff,
    exif_payload,
)

# Pillow plugins we accept; anything else (EPS, PSD, ...) is refused to keep the attack surface small.
ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "TGA", "ICO", "AVIF")
# Every exception class Pillow's decoders raise on bad data (the AVIF decoder raises RuntimeError).
DECODE_ERRORS: Final = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, RuntimeError)
# Images up to this many pixels decode on the event loop: a 32x32 JPEG decodes in ~30 us, a thread hop costs
# more. Anything larger decodes in a worker thread so it cannot hold up other requests.
INLINE_DECODE_PIXELS: Final = 64 * 64
# JPEG draft mode: the decoder scales by 1/2, 1/4 or 1/8 in the DCT so the image is still at least this size.
DRAFT_SIZE: Final = (128, 128)
JPEG_SCAN_MARKER: Final = b"\xff\xda"  # SOS; entropy-coded data stuffs every 0xFF, so it cannot hide in there
_JPEG_SOI: Final = b"\xff\xd8"
_EXIF_SEARCH_BYTES: Final = 64 * 1024  # APP segments come before the image data and are at most 64 KiB
# PNG text chunks are inflated while the header is parsed, on the event loop: Pillow's own caps are 1 MiB a
# chunk and 64 MiB in all, so a 68 KB file could hold 64 MiB of text. These are plenty for real metadata.
PNG_TEXT_CHUNK_BYTES: Final = 256 * 1024
PNG_TEXT_TOTAL_BYTES: Final = 1024 * 1024
# The ICO format stores icons of at most 256x256; Pillow decodes an icon when the file is opened (on the
# event loop), so an entry whose embedded PNG or bitmap claims more is refused from the directory first.
ICO_MAX_SIDE: Final = 256
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_ICO_SIGNATURE: Final = b"\x00\x00\x01\x00"  # reserved 0, type 1 (icon)

# Bytes Pillow stores per pixel, by mode (multi-band 8-bit modes are stored as 4 bytes).
_STORAGE_BYTES: Final[Mapping[str, int]] = {
    "1": 1,
    "L": 1,
    "P": 1,
    "I;16": 2,
    "I;16L": 2,
    "I;16B": 2,
    "I;16N": 2,
    "I": 4,
    "F": 4,
}
# Full-size copies the conversion to RGB makes before the image is shrunk (per pixel): palettes expand to
# RGB(A), alpha is premultiplied for filtering, modes without a resampler are converted first.
_CONVERSION_BYTES: Final[Mapping[str, int]] = {"1": 1, "P": 4, "PA": 4, "RGBA": 5, "LA": 5, "LAB": 4, "HSV": 4}
# What a format's decoder holds besides Pillow's own buffer (per decoded pixel): libwebp decodes into its own
# canvas and keeps the previous frame's, libavif its YUV planes, the others a row or strip buffer.
# Measured on 6-megapixel images (tests/service/test_admission.py), with margin.
_DECODER_BYTES: Final[Mapping[str, int]] = {"WEBP": 16, "AVIF": 8}
_DEFAULT_DECODER_BYTES: Final = 1
# Libraries' fixed buffers (libjpeg's, zlib's window, Pillow's plugin state), whatever the image size.
_FIXED_BYTES: Final = 4 * 1024 * 1024
_EXIF_ORIENTATION: Final = 0x0112
_RAW_EXIF_PROFILE: Final = "Raw profile type exif"  # a PNG text chunk Pillow reads EXIF from


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What one image may cost to decode."""

    max_pixels: int = 40_000_000
    max_decode_bytes: int = 48 * 1024 * 1024
    max_jpeg_scans: int = 32
    max_image_tags: int = DEFAULT_MAX_TAGS  # per TIFF directory: a TIFF's own, EXIF and MPF blocks
    # All images of one request together (their pixel work, the fixed buffers left out: they are reused).
    max_request_decode_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DecodeCost:
    """The estimated cost of decoding one image, from its header."""

    width: int
    height: int
    decoded_pixels: int  # after JPEG draft scaling
    memory_bytes: int
    scans: int = 1  # JPEG scans (1 for everything else)
    # EXIF says the image is stored sideways or mirrored: turning it upright also rewrites its EXIF, tag by tag in
    # Python (up to ~25 ms for the directories tiff_directories admits), so it never decodes on the event loop.
    rotated: bool = False

    @property
    def work_bytes(self) -> int:
        """The part of the memory estimate that grows with the image (what a request's images add up to)."""
        return max(0, self.memory_bytes - _FIXED_BYTES)


class DecodeStoppedError(Exception):
    """A decode was stopped from outside: its request ran out of time."""


class StoppableBuffer(io.BytesIO):
    """The image bytes as Pillow reads them; once stopped, the next read ends the decode."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.stopped = False

    def read(self, size: int | None = -1) -> bytes:
        """Read like BytesIO, unless the decode was stopped."""
        if self.stopped:
            raise DecodeStoppedError
        return super().read(size)


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """An admitted image: its header parsed, its cost, and how and where it should decode.

    ``image`` is the opened Pillow image; it is None for a small baseline JPEG, which libjpeg-turbo decodes
    straight into an array (``service.preprocessing``), pixel for pixel what Pillow would give.
    """

    image: Image.Image | None
    cost: DecodeCost
    data: bytes
    buffer: StoppableBuffer | None = None  # what Pillow reads from (None on the fast path)
    grey: bool = False  # a fast-path JPEG with one channel

    @property
    def inline(self) -> bool:
        """Cheap enough to decode on the event loop."""
        cost = self.cost
        return cost.decoded_pixels <= INLINE_DECODE_PIXELS and cost.scans == 1 and not cost.rotated

    def stop(self) -> None:
        """Make a decode running in another thread give up at its next read (Pillow reads 64 KiB at a time)."""
        if self.buffer is not None:
            self.buffer.stopped = True


def admit_image(data: bytes, limits: DecodeLimits) -> ImagePlan:
    """Open ``data``'s header and refuse it unless its decode cost is within ``limits``."""
    small_jpeg = _small_baseline_jpeg(data)
    if small_jpeg is not None:
        return small_jpeg
    buffer = StoppableBuffer(data)
    image = open_header(data, buffer, max_tags=limits.max_image_tags)
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImageError(f"image has an invalid size {width}x{height}")
    pixels = width * height
    if pixels > limits.max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {pixels} pixels, over the limit of {limits.max_pixels} "
            "(CIFAR10_MAX_IMAGE_PIXELS)"
        )
    cost = estimate_cost(image, data, max_tags=limits.max_image_tags)
    if cost.scans > limits.max_jpeg_scans:
        raise ImageTooLargeError(
            f"JPEG has {cost.scans} scans, over the limit of {limits.max_jpeg_scans} (CIFAR10_MAX_JPEG_SCANS)"
        )
    if cost.memory_bytes > limits.max_decode_bytes:
        raise ImageTooLargeError(
            f"decoding this {width}x{height} {image.format} ({image.mode}) would take about "
            f"{_mib(cost.memory_bytes)} MiB, over the limit of {_mib(limits.max_decode_bytes)} MiB "
            "(CIFAR10_MAX_DECODE_BYTES)"
        )
    return ImagePlan(image=image, cost=cost, data=data, buffer=buffer)


def _small_baseline_jpeg(data: bytes) -> ImagePlan | None:
    """A plan for the fast path, when ``data`` is a JPEG it can decode exactly as Pillow would: baseline (one
    scan), YCbCr or greyscale, no EXIF block that could rotate it, and small enough that Pillow would not
    decode it in draft mode either. Anything else (or anything the header parser doubts) takes Pillow's path."""
    if not data.startswith(_JPEG_SOI) or EXIF_PREFIX in data[:_EXIF_SEARCH_BYTES]:
        return None
    try:
        height, width, colour_space, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colour_space not in ("YCbCr", "Gray") or not (
        0 < width <= 2 * DRAFT_SIZE[0] and 0 < height <= 2 * DRAFT_SIZE[1]
    ):
        return None
    if data.count(JPEG_SCAN_MARKER) != 1:
        return None
    grey = colour_space == "Gray"
    memory = _FIXED_BYTES + width * height * (_STORAGE_BYTES["L"] if grey else 4) * 2  # the array and its image
    cost = DecodeCost(width=width, height=height, decoded_pixels=width * height, memory_bytes=memory)
    return ImagePlan(image=None, cost=cost, data=data, grey=grey)


def open_header(data: bytes, buffer: io.BytesIO | None = None, *, max_tags: int = DEFAULT_MAX_TAGS) -> Image.Image:
    """``Image.open`` restricted to the accepted formats: the header is parsed, no pixel is decoded."""
    if not data:
        raise InvalidImageError("the upload is empty")
    if data.startswith(_ICO_SIGNATURE):
        _check_icon_directory(data)
    elif data.startswith(TIFF_PREFIXES):
        check_tiff(data, max_tags)
    elif data.startswith(_JPEG_SOI):
        check_jpeg_metadata(data, max_tags)
    # Pillow's documented knobs, read while a PNG header is parsed (setting them is idempotent and cheap).
    PngImagePlugin.MAX_TEXT_CHUNK = PNG_TEXT_CHUNK_BYTES
    PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_TOTAL_BYTES
    try:
        return Image.open(buffer or io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError("image has too many pixels (CIFAR10_MAX_IMAGE_PIXELS)") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError("could not decode the image: unknown or unsupported format") from exc
    except DECODE_ERRORS as exc:
        raise InvalidImageError(f"could not decode the image: {exc}") from exc


def _check_icon_directory(data: bytes) -> None:
    """Refuse an ICO whose icons are bigger than the format allows, reading each icon's own header."""
    count = int.from_bytes(data[4:6], "little")
    for index in range(min(count, 256)):
        entry = data[6 + 16 * index : 22 + 16 * index]
        if len(entry) < 16:
            raise InvalidImageError("could not decode the image: the icon directory is truncated")
        offset = int.from_bytes(entry[12:16], "little")
        icon = data[offset : offset + 26]
        if icon.startswith(_PNG_SIGNATURE) and len(icon) >= 24:
            width, height = int.from_bytes(icon[16:20], "big"), int.from_bytes(icon[20:24], "big")
        elif len(icon) >= 12:  # a BMP info header: width, then height twice over (the AND mask)
            width = int.from_bytes(icon[4:8], "little", signed=True)
            height = int.from_bytes(icon[8:12], "little", signed=True) // 2
        else:
            continue  # Pillow refuses what it cannot read
        if abs(width) > ICO_MAX_SIDE or abs(height) > ICO_MAX_SIDE:
            raise ImageTooLargeError(
                f"an icon in this ICO is {abs(width)}x{abs(height)}; "
                f"ICO icons are at most {ICO_MAX_SIDE}x{ICO_MAX_SIDE}"
            )


def draft_scale(image: Image.Image) -> int:
    """The factor (1, 2, 4 or 8) a JPEG decodes smaller by in draft mode (the same rule as Pillow's ``draft``)."""
    width, height = image.size
    if image.format not in ("JPEG", "MPO") or (width <= 2 * DRAFT_SIZE[0] and height <= 2 * DRAFT_SIZE[1]):
        return 1
    fits = min(width // DRAFT_SIZE[0], height // DRAFT_SIZE[1])
    return next((scale for scale in (8, 4, 2) if fits >= scale), 1)


def estimate_cost(image: Image.Image, data: bytes, *, max_tags: int = DEFAULT_MAX_TAGS) -> DecodeCost:
    """The decode's memory, from the header: Pillow's buffer, the decoder's own, conversion copies."""
    width, height = image.size
    scale = draft_scale(image)
    decoded = math.ceil(width / scale) * math.ceil(height / scale)
    mode = image.mode
    per_pixel = (
        _STORAGE_BYTES.get(mode, 4)
        + _CONVERSION_BYTES.get(mode, 0)
        + _DECODER_BYTES.get(image.format or "", _DEFAULT_DECODER_BYTES)
    )
    rotated = _orientation(image, max_tags) not in (None, 1)
    if rotated:
        per_pixel += _STORAGE_BYTES.get(mode, 4)  # the transpose writes a second image
    memory = _FIXED_BYTES + decoded * per_pixel
    scans = 1
    if image.format in ("JPEG", "MPO"):
        scans = max(1, data.count(JPEG_SCAN_MARKER))
        if scans > 1:
            # A multi-scan JPEG keeps every DCT coefficient of the full image until the last scan, whatever
            # the output scale: 64 two-byte coefficients per 8x8 block of each component.
            memory += _coefficient_bytes(image)
    return DecodeCost(
        width=width, height=height, decoded_pixels=decoded, memory_bytes=memory, scans=scans, rotated=rotated
    )


def _coefficient_bytes(image: Image.Image) -> int:
    width, height = image.size
    layers = getattr(image, "layer", None) or [("", 1, 1, 0)] * len(image.getbands())
    h_max = max(layer[1] for layer in layers)
    v_max = max(layer[2] for layer in layers)
    blocks = 0
    for _, h_factor, v_factor, _ in layers:
        blocks += math.ceil(math.ceil(width * h_factor / h_max) / 8) * math.ceil(
            math.ceil(height * v_factor / v_max) / 8
        )
    return blocks * 64 * 2


def _orientation(image: Image.Image, max_tags: int) -> int | None:
    """The EXIF orientation from what the header parse already holds (``getexif`` would decode a PNG whole)."""
    tags = getattr(image, "tag_v2", None)  # TIFF: the first IFD
    if tags is not None:
        value = tags.get(_EXIF_ORIENTATION)
        return value if isinstance(value, int) else None
    raw = _exif_bytes(image)
    if raw is None:
        return None
    # Before it is parsed, here and when the image is turned upright.
    check_tiff(exif_payload(raw), max_tags, "EXIF block")
    exif = Image.Exif()
    try:
        exif.load(raw)
        value = exif.get(_EXIF_ORIENTATION)
    except DECODE_ERRORS:
        return None
    return value if isinstance(value, int) else None


def _exif_bytes(image: Image.Image) -> bytes | None:
    """The EXIF block Pillow reads the orientation from: the format's own, or a PNG's hex text profile."""
    raw = image.info.get("exif")
    if isinstance(raw, bytes):
        return raw
    text = image.info.get(_RAW_EXIF_PROFILE)
    if not isinstance(text, str):
        return None
    try:
        return bytes.fromhex("".join(text.split("\n")[3:]))  # after three header lines, as Pillow reads it
    except ValueError:
        return None  # not hex: Pillow refuses it when it reads it


def _mib(count: int) -> str:
    return f"{count / 2**20:.0f}" if count >= 2**20 else f"{count / 2**20:.2f}"
