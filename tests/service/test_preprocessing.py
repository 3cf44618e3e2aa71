"""Preprocessing: every image mode to RGB, EXIF orientation, animation, resizing, draft mode, bombs, corrupt data."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from service.admission import DecodeLimits, admit_image
from service.errors import ImageTooLargeError, InvalidImageError
from service.preprocessing import decode_image, load_pixels
from tests.service.images import encode, jpeg, png, random_png, solid

LIMIT = 40_000_000
RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 255, 0)
WHITE = (255, 255, 255)


def decode(data: bytes, **options: object) -> np.ndarray:
    return decode_image(data, max_pixels=options.pop("max_pixels", LIMIT), **options)  # type: ignore[arg-type]


def assert_colour(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 3) -> None:
    assert pixels.dtype == np.uint8
    difference = np.abs(pixels.astype(int) - np.array(colour)).max()
    assert difference <= tolerance, f"expected {colour}, got e.g. {pixels.reshape(-1, 3)[0].tolist()}"


def test_png_pixels_come_through_exactly() -> None:
    data, pixels = random_png(seed=1)
    result = decode(data)
    assert result.shape == (32, 32, 3)
    np.testing.assert_array_equal(result, pixels)


def test_32x32_jpeg_is_decode_only() -> None:
    _, pixels = random_png(seed=2)
    jpeg_bytes = encode(Image.fromarray(pixels), "JPEG", quality=90)
    expected = np.asarray(Image.open(io.BytesIO(jpeg_bytes)).convert("RGB"))
    np.testing.assert_array_equal(decode(jpeg_bytes), expected)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 200, (200, 200, 200)),
        ("1", 1, WHITE),
        ("RGBX", (10, 20, 30, 0), (10, 20, 30)),
    ],
)
def test_simple_modes_convert_to_rgb(mode: str, value: object, expected: tuple[int, int, int]) -> None:
    image = Image.new(mode, (32, 32), value)  # type: ignore[arg-type]
    assert_colour(decode(encode(image, "TIFF" if mode == "RGBX" else "PNG")), expected)


def test_palette_image() -> None:
    image = solid(GREEN).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert_colour(decode(encode(image, "PNG")), GREEN)


def test_palette_transparency_becomes_white() -> None:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (16, 0, 32, 32))  # right half: palette entry 1 (blue), made transparent below
    result = decode(encode(image, "PNG", transparency=1))
    assert_colour(result[:, :14], RED)
    assert_colour(result[:, 18:], WHITE)


def test_rgba_is_composited_on_white() -> None:
    image = Image.new("RGBA", (32, 32), (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (16, 0, 32, 32))
    image.paste((0, 0, 0, 128), (0, 16, 16, 32))
    result = decode(encode(image, "PNG"))
    assert_colour(result[:14, :14], RED)
    assert_colour(result[:, 18:], WHITE)
    assert_colour(result[18:, :14], (127, 127, 127), tolerance=2)  # half-transparent black over white


def test_grey_with_alpha() -> None:
    image = Image.new("LA", (32, 32), (0, 0))
    assert_colour(decode(encode(image, "PNG")), WHITE)


def test_cmyk_jpeg() -> None:
    image = Image.new("CMYK", (32, 32), (0, 255, 255, 0))
    assert_colour(decode(encode(image, "JPEG", quality=95)), RED, tolerance=8)


@pytest.mark.parametrize(("value", "expected"), [(65535, 255), (32896, 128), (0, 0)])
def test_16_bit_grey_is_scaled_not_clipped(value: int, expected: int) -> None:
    image = Image.fromarray(np.full((32, 32), value, dtype=np.uint16))
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    assert_colour(decode(data), (expected,) * 3, tolerance=1)  # type: ignore[arg-type]


def test_float_image_in_unit_range() -> None:
    image = Image.fromarray(np.full((32, 32), 0.5, dtype=np.float32))
    assert image.mode == "F"
    assert_colour(decode(encode(image, "TIFF")), (128, 128, 128), tolerance=1)


def test_32_bit_integer_image() -> None:
    image = Image.fromarray(np.full((32, 32), 100, dtype=np.int32))
    assert image.mode == "I"
    assert_colour(decode(encode(image, "TIFF")), (100, 100, 100), tolerance=0)


def test_exif_orientation_is_applied() -> None:
    # Stored 64 wide x 32 tall: top half red, bottom half blue. Orientation 6 = "rotate 90 degrees clockwise
    # to display", so upright the red half is on the right and the blue half on the left.
    stored = Image.new("RGB", (64, 32), RED)
    stored.paste(BLUE, (0, 16, 64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    for image_format in ("PNG", "JPEG"):
        result = decode(encode(stored, image_format, exif=exif.tobytes()))
        assert_colour(result[:, :12], BLUE, tolerance=12)
        assert_colour(result[:, 20:], RED, tolerance=12)


def test_animation_uses_the_first_frame() -> None:
    frames = [solid(RED), solid(BLUE), solid(GREEN)]
    for image_format in ("GIF", "PNG", "WEBP"):
        options = {"lossless": True} if image_format == "WEBP" else {}
        data = encode(frames[0], image_format, save_all=True, append_images=frames[1:], duration=100, **options)
        assert Image.open(io.BytesIO(data)).n_frames == 3  # type: ignore[attr-defined]
        assert_colour(decode(data), RED, tolerance=4)


def test_squash_keeps_the_whole_picture_and_crop_takes_the_centre() -> None:
    image = Image.new("RGB", (96, 32), RED)
    image.paste(GREEN, (0, 0, 32, 32))
    image.paste(BLUE, (64, 0, 96, 32))
    data = png_bytes = encode(image, "PNG")
    squashed = decode(data, resize="squash")
    assert_colour(squashed[:, :8], GREEN, tolerance=10)
    assert_colour(squashed[:, 14:18], RED, tolerance=10)
    assert_colour(squashed[:, 25:], BLUE, tolerance=10)
    assert_colour(decode(png_bytes, resize="crop"), RED, tolerance=0)


def test_big_image_is_resized_with_an_antialiasing_filter() -> None:
    # A one-pixel checkerboard averages to grey; nearest-neighbour would keep pure black/white pixels.
    board = (np.indices((320, 320)).sum(axis=0) % 2 * 255).astype(np.uint8)
    result = decode(encode(Image.fromarray(board), "PNG"))
    assert_colour(result, (128, 128, 128), tolerance=20)


def test_large_jpeg_decodes_in_draft_mode() -> None:
    data = jpeg(RED, size=(3000, 2000), quality=80)
    image = load_pixels(admit_image(data, DecodeLimits(max_pixels=LIMIT)).image)
    # Draft mode decoded at 1/8 scale instead of allocating and decoding all 6 megapixels.
    assert image.size == (375, 250)
    assert_colour(decode(data), RED, tolerance=6)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def _jpeg_with_declared_size(width: int, height: int) -> bytes:
    data = bytearray(jpeg(RED))
    marker = data.index(b"\xff\xc0")  # baseline SOF0: length(2) precision(1) height(2) width(2)
    data[marker + 5 : marker + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [_png_header_only(100_000, 100_000), _jpeg_with_declared_size(65_000, 65_000), _png_header_only(8_000, 8_000)],
    ids=["png-10-gigapixels", "jpeg-4-gigapixels", "png-64-megapixels"],
)
def test_decompression_bombs_are_refused_fast_without_allocating(data: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError) as caught:
            decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.status_code == 413
    assert peak < 2_000_000  # refused from the header: no pixel buffer was allocated


def test_pixel_limit_is_the_setting() -> None:
    data = png(size=(100, 100))
    with pytest.raises(ImageTooLargeError, match="100x100"):
        decode(data, max_pixels=5_000)
    assert decode(data, max_pixels=10_000).shape == (32, 32, 3)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        jpeg(size=(64, 64))[:300],
        png(size=(64, 64))[:60],
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
    ],
    ids=["empty", "text", "truncated-jpeg", "truncated-png", "eps-refused", "broken-png-header"],
)
def test_corrupt_data_is_a_400(data: bytes) -> None:
    with pytest.raises(InvalidImageError) as caught:
        decode(data)
    assert caught.value.status_code == 400
