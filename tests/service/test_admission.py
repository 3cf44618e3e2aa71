"""Admission: decode costs estimated from the header, held against measured decodes; refusals name the setting."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.admission import (
    DRAFT_SIZE,
    INLINE_DECODE_PIXELS,
    DecodeLimits,
    admit_image,
    draft_scale,
    estimate_cost,
    open_header,
)
from service.errors import ImageTooLargeError
from tests.service.images import encode, jpeg, png

PROJECT_ROOT = Path(__file__).resolve().parents[2]
UNLIMITED = DecodeLimits(max_pixels=2**40, max_decode_bytes=2**62, max_jpeg_scans=2**31)


def photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A smooth but non-trivial picture (compresses like a photo, not like a flat colour)."""
    width, height = size
    small = np.random.default_rng(0).integers(0, 256, (max(1, height // 16), max(1, width // 16), 3), np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).convert(mode)


def sixteen_bit(size: tuple[int, int]) -> Image.Image:
    grey = np.asarray(photo(size, "L"), dtype=np.uint16) * 257
    return Image.fromarray(grey)


def progressive_jpeg_with_scans(size: tuple[int, int], extra_scans: int) -> bytes:
    """A progressive JPEG whose last scan is repeated: each copy is valid and cheap to store, costly to decode."""
    data = encode(photo(size), "JPEG", progressive=True, quality=80)
    last_scan = data.rindex(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[last_scan:end] * extra_scans + data[end:]


def peak_decode_bytes(data: bytes, scratch: Path) -> int:
    """Peak resident-memory growth of decoding ``data``, measured in a fresh process."""
    image_file = scratch / "image"
    image_file.write_bytes(data)  # read back in one exact allocation (a growing stdin buffer peaks higher)
    # VmHWM belongs to this process's memory map (ru_maxrss would carry over the forking parent's peak).
    script = (
        "import pathlib, re, sys\n"
        "from service.preprocessing import decode_image\n"
        "def peak():\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', pathlib.Path('/proc/self/status').read_text())[1])\n"
        "data = pathlib.Path(sys.argv[1]).read_bytes()\n"
        "before = peak()\n"
        "decode_image(data, max_pixels=2**40)\n"
        "print((peak() - before) * 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(image_file)], capture_output=True, cwd=PROJECT_ROOT, check=True, timeout=120
    )
    return int(result.stdout)


MEASURED_CASES = {
    "jpeg-baseline": lambda: encode(photo((3000, 2000)), "JPEG", quality=90),
    "jpeg-progressive": lambda: encode(photo((3000, 2000)), "JPEG", progressive=True, quality=90),
    "png-rgb": lambda: encode(photo((2400, 1600)), "PNG"),
    "png-rgba": lambda: encode(photo((2400, 1600), "RGBA"), "PNG"),
    "png-palette": lambda: encode(photo((2400, 1600), "P"), "PNG"),
    "png-grey": lambda: encode(photo((2400, 1600), "L"), "PNG"),
    "png-16-bit": lambda: encode(sixteen_bit((2400, 1600)), "PNG"),
    "tiff-float": lambda: encode(Image.fromarray(np.asarray(photo((2400, 1600), "L"), np.float32) / 255), "TIFF"),
    "webp-lossy": lambda: encode(photo((2400, 1600)), "WEBP", quality=80),
    "webp-lossless": lambda: encode(photo((2400, 1600)), "WEBP", lossless=True),
    "avif": lambda: encode(photo((2400, 1600)), "AVIF", quality=50),
    "gif": lambda: encode(photo((2400, 1600)), "GIF"),
    "bmp": lambda: encode(photo((2400, 1600)), "BMP"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MEASURED_CASES))
def test_the_estimate_is_at_least_the_measured_peak(name: str, tmp_path: Path) -> None:
    data = MEASURED_CASES[name]()
    estimate = estimate_cost(open_header(data), data).memory_bytes
    measured = peak_decode_bytes(data, tmp_path)
    assert measured <= estimate, f"{name}: measured {measured / 2**20:.1f} MiB > estimate {estimate / 2**20:.1f} MiB"
    # ...and not so loose that the budget turns away images it could afford.
    assert estimate <= 3 * measured + 8 * 2**20, f"{name}: estimate {estimate / 2**20:.1f} MiB is too loose"


def test_over_the_decode_budget_is_refused_from_the_header_naming_the_setting() -> None:
    data = encode(Image.new("RGB", (6000, 6000), (10, 200, 30)), "WEBP", lossless=True)  # 1.4 KB, 36 megapixels
    assert len(data) < 4096
    with pytest.raises(ImageTooLargeError) as caught:
        admit_image(data, DecodeLimits())
    assert caught.value.status_code == 413
    assert "CIFAR10_MAX_DECODE_BYTES" in caught.value.message and "6000x6000" in caught.value.message


def test_sixteen_bit_and_float_images_cost_their_bit_depth() -> None:
    size = (1000, 1000)
    eight = estimate_cost(open_header(data := encode(photo(size, "L"), "PNG")), data).memory_bytes
    sixteen = estimate_cost(open_header(data := encode(sixteen_bit(size), "PNG")), data).memory_bytes
    floats = encode(Image.fromarray(np.zeros(size[::-1], np.float32)), "TIFF")
    assert eight < sixteen < estimate_cost(open_header(floats), floats).memory_bytes


def test_a_long_thin_image_costs_its_pixels() -> None:
    """A 1 x 4,000,000 PNG is tiny on the wire; its cost is its pixel count, whatever the shape."""
    data = encode(Image.new("L", (4_000_000, 1)), "PNG")
    assert len(data) < 20_000
    cost = estimate_cost(open_header(data), data)
    assert cost.decoded_pixels == 4_000_000 and cost.memory_bytes >= 4_000_000
    with pytest.raises(ImageTooLargeError, match="CIFAR10_MAX_DECODE_BYTES"):
        admit_image(data, DecodeLimits(max_decode_bytes=6 * 2**20))


def test_jpeg_scans_are_counted_and_limited() -> None:
    data = progressive_jpeg_with_scans((640, 480), extra_scans=50)
    cost = estimate_cost(open_header(data), data)
    assert cost.scans >= 50
    with pytest.raises(ImageTooLargeError) as caught:
        admit_image(data, DecodeLimits())
    assert "CIFAR10_MAX_JPEG_SCANS" in caught.value.message
    assert admit_image(encode(photo((640, 480)), "JPEG", progressive=True), DecodeLimits()).cost.scans <= 12


def test_a_progressive_jpeg_pays_for_the_full_coefficient_buffer() -> None:
    baseline = encode(photo((4000, 3000)), "JPEG")
    progressive = encode(photo((4000, 3000)), "JPEG", progressive=True)
    baseline_cost = estimate_cost(open_header(baseline), baseline)
    progressive_cost = estimate_cost(open_header(progressive), progressive)
    assert baseline_cost.memory_bytes < 12 * 2**20  # decoded at 1/8 scale, nothing at full size
    # 4:2:0 sampling: 1.5 coefficients per pixel, two bytes each.
    assert progressive_cost.memory_bytes >= 4000 * 3000 * 3


@pytest.mark.parametrize("size", [(100, 100), (257, 300), (300, 100), (512, 512), (1030, 700), (6000, 4000)])
def test_draft_scale_is_pillows(size: tuple[int, int]) -> None:
    image = Image.open(io.BytesIO(jpeg(size=size)))
    expected = draft_scale(image)
    if expected > 1:
        image.draft("RGB", DRAFT_SIZE)
    image.load()
    assert image.size == (-(-size[0] // expected), -(-size[1] // expected))


def test_admission_reads_the_header_only() -> None:
    data = encode(photo((2000, 1500)), "PNG")
    plan = admit_image(data, UNLIMITED)
    assert plan.image.fp is plan.buffer  # still open: no pixel was decoded
    assert plan.buffer.tell() < 1024


def test_only_thumbnails_decode_inline() -> None:
    assert admit_image(png(size=(32, 32)), UNLIMITED).inline
    assert admit_image(png(size=(64, 64)), UNLIMITED).cost.decoded_pixels == INLINE_DECODE_PIXELS
    assert not admit_image(png(size=(65, 64)), UNLIMITED).inline
    assert not admit_image(encode(photo((32, 32)), "JPEG", progressive=True), UNLIMITED).inline


def test_pixel_limit_is_checked_before_anything_else() -> None:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    with pytest.raises(ImageTooLargeError, match="CIFAR10_MAX_IMAGE_PIXELS"):
        admit_image(data, DecodeLimits())


def test_a_stopped_decode_gives_up_at_its_next_read() -> None:
    from service.admission import DecodeStoppedError
    from service.preprocessing import decode

    plan = admit_image(encode(photo((2000, 1500)), "PNG"), UNLIMITED)
    plan.stop()
    with pytest.raises(DecodeStoppedError):
        decode(plan)


def test_the_default_budget_admits_ordinary_photos() -> None:
    limits = DecodeLimits()
    for data in (jpeg(size=(6000, 4000)), encode(photo((3000, 2000)), "PNG"), encode(photo((1920, 1080)), "WEBP")):
        assert admit_image(data, limits).cost.memory_bytes <= limits.max_decode_bytes  # admitted, not refused
