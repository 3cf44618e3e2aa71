"""The small-JPEG fast path gives exactly the pixels of Pillow's path: on all 10,000 CIFAR-10 test images, and on
the shapes and colour spaces it takes; anything it does not take goes to Pillow."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from service.admission import DecodeLimits, admit_image, open_header
from service.preprocessing import decode, load_pixels, to_model_input
from service.settings import ResizeMode
from tests.service.conftest import PROJECT_ROOT
from tests.service.images import encode

ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
LIMITS = DecodeLimits()


def through_pillow(data: bytes, resize: ResizeMode = "squash") -> np.ndarray:
    """The reference: Pillow decodes, then the usual conversion and resize."""
    return to_model_input(load_pixels(open_header(data)), resize=resize)


def picture(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1] // 4 + 1, size[0] // 4 + 1, 3), dtype=np.uint8)
    return Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR).convert(mode)


@pytest.mark.parametrize(
    ("size", "mode", "options"),
    [
        ((32, 32), "RGB", {"quality": 95}),
        ((32, 32), "RGB", {"quality": 50, "subsampling": 0}),
        ((32, 32), "L", {}),
        ((48, 40), "RGB", {}),
        ((256, 256), "RGB", {"quality": 80}),
        ((200, 120), "L", {}),
    ],
)
@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_fast_path_pixels_equal_pillows(
    size: tuple[int, int], mode: str, options: dict[str, object], resize: ResizeMode
) -> None:
    data = encode(picture(size, mode), "JPEG", **options)
    plan = admit_image(data, LIMITS)
    assert plan.image is None  # it took the fast path
    np.testing.assert_array_equal(decode(plan, resize), through_pillow(data, resize))


@pytest.mark.parametrize(
    "data",
    [
        encode(picture((300, 200)), "JPEG"),  # Pillow decodes it in draft mode
        encode(picture((64, 64)), "JPEG", progressive=True),  # several scans
        encode(picture((32, 32), "CMYK"), "JPEG"),
        encode(picture((32, 32)), "PNG"),
    ],
    ids=["draft-size", "progressive", "cmyk", "png"],
)
def test_anything_else_takes_pillows_path(data: bytes) -> None:
    assert admit_image(data, LIMITS).image is not None


def test_a_jpeg_with_exif_takes_pillows_path_so_its_orientation_applies() -> None:
    image = picture((40, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    data = encode(image, "JPEG", exif=exif.tobytes())
    plan = admit_image(data, LIMITS)
    assert plan.image is not None
    np.testing.assert_array_equal(decode(plan), through_pillow(data))


def test_a_broken_small_jpeg_is_a_400() -> None:
    from service.errors import InvalidImageError

    data = encode(picture((32, 32)), "JPEG")
    with pytest.raises(InvalidImageError):
        decode(admit_image(data[: len(data) // 2], LIMITS))


@pytest.mark.dataset
@pytest.mark.slow  # all 10,000 test images, twice
def test_every_cifar10_test_image_decodes_to_pillows_pixels() -> None:
    if not ARCHIVE.exists():
        pytest.skip(f"{ARCHIVE} is missing")
    checked = 0
    with tarfile.open(ARCHIVE, "r:gz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.startswith("test/")):
                continue
            extracted = archive.extractfile(member)
            assert extracted is not None
            data = extracted.read()
            plan = admit_image(data, LIMITS)
            assert plan.image is None, member.name
            expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            np.testing.assert_array_equal(decode(plan), expected, err_msg=member.name)
            checked += 1
    assert checked == 10_000
