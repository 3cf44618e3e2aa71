"""Every accepted format, mutated thousands of ways: each file decodes or is refused with 400/413, never raises
anything else (which the app would answer with a 500)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from service.admission import DecodeLimits
from service.errors import ImageTooLargeError, InvalidImageError
from service.preprocessing import decode_image
from tests.service.images import encode

CASES_PER_FORMAT = 3000
LIMITS = DecodeLimits()  # the defaults: a mutated header may declare a huge image, which must be refused cheaply
SEEDS = {
    "jpeg": ("JPEG", {"quality": 85}),
    "jpeg-progressive": ("JPEG", {"progressive": True}),
    "png": ("PNG", {}),
    "png-palette": ("PNG", {"palette": True}),
    "gif": ("GIF", {}),
    "webp": ("WEBP", {"quality": 80}),
    "webp-lossless": ("WEBP", {"lossless": True}),
    "bmp": ("BMP", {}),
    "tiff": ("TIFF", {"compression": "tiff_deflate"}),
    "ppm": ("PPM", {}),
    "tga": ("TGA", {"compression": "tga_rle"}),
    "ico": ("ICO", {}),
    "avif": ("AVIF", {"quality": 60}),
}

pytestmark = [
    # Pillow warns (UserWarning) about the corrupt metadata it skips; a warning is not a failure to decode.
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.*"),
]


def seed_file(image_format: str, options: dict[str, object]) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if options.pop("palette", False):
        image = image.convert("P")
    return encode(image, image_format, **options)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Flip bytes, truncate, duplicate a run, or write boundary values over a length field."""
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if len(mutated) <= 8:
            break
        choice = rng.random()
        at = rng.randrange(len(mutated))
        if choice < 0.45:
            mutated[at] = rng.randrange(256)
        elif choice < 0.6:
            del mutated[rng.randrange(8, len(mutated)) :]
        elif choice < 0.8:
            mutated[at:at] = mutated[at : at + rng.randint(1, 64)]
        else:
            mutated[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"])
    return bytes(mutated)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutated_files_decode_or_are_refused(name: str) -> None:
    image_format, options = SEEDS[name]
    seed = seed_file(image_format, dict(options))
    assert decode_image(seed, max_pixels=LIMITS.max_pixels, limits=LIMITS).shape == (32, 32, 3)
    rng = random.Random(name)
    outcomes = {"decoded": 0, "refused": 0}
    for _ in range(CASES_PER_FORMAT):
        data = mutate(seed, rng)
        try:
            array = decode_image(data, max_pixels=LIMITS.max_pixels, limits=LIMITS)
        except (InvalidImageError, ImageTooLargeError):
            outcomes["refused"] += 1
        except Exception as exc:  # the point of the test: nothing else may escape
            pytest.fail(f"{name}: {type(exc).__name__}: {exc} for a mutated file ({data[:64].hex()}...)")
        else:
            assert array.shape == (32, 32, 3) and array.dtype == np.uint8
            outcomes["decoded"] += 1
    assert outcomes["refused"] > 0  # the mutations do break files...
    assert sum(outcomes.values()) == CASES_PER_FORMAT
