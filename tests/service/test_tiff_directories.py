"""TIFF directories (TIFF files, EXIF and MPF blocks) are bounded before Pillow parses them tag by tag."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from PIL import Image

from reliability.attacks import (
    exif_block,
    jpeg_with_exif,
    jpeg_with_segment,
    png_with_exif,
    tiff_directory,
    tiff_many_tags,
    tiff_tag_data,
)
from reliability.catalogue import png_chunk, raw_png
from service.admission import DecodeLimits, admit_image
from service.errors import ImageTooLargeError
from service.preprocessing import decode
from service.tiff_directories import check_jpeg_metadata, check_tiff
from tests.service.images import encode

LIMITS = DecodeLimits()
MAX_DIRECTORY_ENTRIES = LIMITS.max_image_tags
BASE_TAGS = 9  # the tags tiff_many_tags writes besides the extra ones


def _webp_with_exif(block: bytes) -> bytes:
    return encode(Image.new("RGB", (32, 32), (200, 30, 30)), "WEBP", exif=b"Exif\0\0" + block)


def _png_with_raw_profile(block: bytes) -> bytes:
    """EXIF the way ImageMagick writes it into a PNG: a text chunk of hex digits after three header lines."""
    text = b"Raw profile type exif\0\nexif\n" + b"%8d\n" % len(block) + block.hex().encode()
    image = raw_png(32, 32, colour_type=2)
    return image[:33] + png_chunk(b"tEXt", text) + image[33:]


def _jpeg_with_mpf(block: bytes) -> bytes:
    """A progressive JPEG (Pillow opens it; a small baseline one never reaches Pillow) with an APP2 MPF block."""
    progressive = encode(Image.new("RGB", (32, 32), (30, 30, 200)), "JPEG", progressive=True)
    return jpeg_with_segment(0xE2, b"MPF\0" + block, progressive)


def _bigtiff(entries: int) -> bytes:
    directory = struct.pack("<Q", entries) + b"".join(struct.pack("<HHQQ", 1_000 + i, 3, 1, 7) for i in range(entries))
    return b"II+\0" + struct.pack("<HHQ", 8, 0, 16) + directory + bytes(8)


def test_a_tiff_with_more_tags_than_the_limit_is_refused_before_it_is_opened() -> None:
    admitted = admit_image(tiff_many_tags(MAX_DIRECTORY_ENTRIES - BASE_TAGS), LIMITS)
    assert admitted.cost.width == 1
    with pytest.raises(ImageTooLargeError, match=f"{MAX_DIRECTORY_ENTRIES + 1} tags, over the limit of 256"):
        admit_image(tiff_many_tags(MAX_DIRECTORY_ENTRIES - BASE_TAGS + 1), LIMITS)


def test_the_limit_is_the_setting_and_the_refusal_names_it() -> None:
    strict = DecodeLimits(max_image_tags=16)
    admit_image(tiff_many_tags(16 - BASE_TAGS), strict)
    with pytest.raises(ImageTooLargeError, match=r"17 tags, over the limit of 16 \(CIFAR10_MAX_IMAGE_TAGS"):
        admit_image(tiff_many_tags(16 - BASE_TAGS + 1), strict)


def test_tags_sharing_their_data_are_refused_one_tag_with_its_own_is_not() -> None:
    admit_image(tiff_tag_data(1, 1 << 16), LIMITS)
    with pytest.raises(ImageTooLargeError, match="share their data"):
        admit_image(tiff_tag_data(40, 1 << 16), LIMITS)


def test_bigtiff_directories_are_counted_too() -> None:
    check_tiff(_bigtiff(MAX_DIRECTORY_ENTRIES), MAX_DIRECTORY_ENTRIES)
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        check_tiff(_bigtiff(MAX_DIRECTORY_ENTRIES + 1), MAX_DIRECTORY_ENTRIES)


@pytest.mark.parametrize(
    "container",
    [jpeg_with_exif, png_with_exif, _webp_with_exif, _png_with_raw_profile],
    ids=["jpeg-app1", "png-exif", "webp-exif", "png-raw-profile"],
)
def test_an_exif_block_at_the_limit_is_admitted_and_one_over_it_refused(container: Callable[[bytes], bytes]) -> None:
    plan = admit_image(container(exif_block(MAX_DIRECTORY_ENTRIES)), LIMITS)
    assert decode(plan).shape == (32, 32, 3)
    with pytest.raises(ImageTooLargeError, match="EXIF block has 257 tags"):
        admit_image(container(exif_block(MAX_DIRECTORY_ENTRIES + 1)), LIMITS)


def test_the_directories_exif_points_at_are_counted() -> None:
    # A small first directory whose GPS pointer leads to a directory over the limit.
    first_size = 2 + 12 * 2 + 4
    gps = tiff_directory([(1 + index, 3, 1, 7) for index in range(MAX_DIRECTORY_ENTRIES + 1)])
    first = tiff_directory([(0x0112, 3, 1, 1), (0x8825, 4, 1, 8 + first_size)])
    with pytest.raises(ImageTooLargeError, match="257 tags"):
        admit_image(png_with_exif(b"II*\0" + struct.pack("<I", 8) + first + gps), LIMITS)


def test_a_directory_pointing_at_itself_ends_the_walk() -> None:
    looping = tiff_directory([(0x0112, 3, 1, 1), (0x8769, 4, 1, 8)])
    check_tiff(b"II*\0" + struct.pack("<I", 8) + looping, MAX_DIRECTORY_ENTRIES)


def test_a_jpeg_mpf_block_over_the_limit_is_refused() -> None:
    small = b"II*\0" + struct.pack("<I", 8) + tiff_directory([(0xB000, 7, 4, 0)])
    check_jpeg_metadata(_jpeg_with_mpf(small), MAX_DIRECTORY_ENTRIES)
    big = tiff_directory([(0xB000 + index % 8, 7, 4, 0) for index in range(MAX_DIRECTORY_ENTRIES + 1)])
    with pytest.raises(ImageTooLargeError, match="MPF block"):
        admit_image(_jpeg_with_mpf(b"II*\0" + struct.pack("<I", 8) + big), LIMITS)


def test_a_sideways_image_decodes_off_the_event_loop_and_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: turn 90 degrees clockwise to view
    tall = Image.new("RGB", (16, 32), (10, 200, 10))
    plan = admit_image(encode(tall, "PNG", exif=exif.tobytes()), LIMITS)
    assert plan.cost.rotated and not plan.inline
    upright = admit_image(encode(tall, "PNG"), LIMITS)
    assert not upright.cost.rotated and upright.inline
    # The same EXIF as a PNG hex text profile: Pillow turns it upright too, so it is just as costly.
    profiled = admit_image(_png_with_raw_profile(exif.tobytes()), LIMITS)
    assert profiled.cost.rotated and not profiled.inline


def test_a_corrupt_directory_is_left_to_pillow() -> None:
    truncated = b"II*\0" + struct.pack("<IH", 8, 200) + bytes(40)  # claims 200 entries, holds 3
    check_tiff(truncated, MAX_DIRECTORY_ENTRIES)
    check_tiff(b"II*\0" + struct.pack("<I", 1 << 30) + bytes(8), MAX_DIRECTORY_ENTRIES)  # first directory past the end
