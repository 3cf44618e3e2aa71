"""Turn an admitted image into the model's input: one uint8 RGB array of shape (32, 32, 3).

Resizing: ``squash`` (the default) scales the whole picture to 32x32, distorting the aspect ratio.
CIFAR-10 images show the whole object filling a square frame, and the original service squashed too,
so squashing never cuts the object off a wide photo. ``crop`` takes the largest centred square first:
no distortion, better for photos whose subject sits in the middle. Both use Lanczos (sharp and
alias-free when shrinking), with ``reducing_gap`` so big images are first box-reduced cheaply.

Memory: images are shrunk in their own mode wherever Pillow can filter it, and converted to RGB only at
32x32, so a conversion never copies the full-size picture (16-bit and float images included); the copies
that remain are the ones ``service.admission`` counts.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import simplejpeg
from PIL import Image, ImageOps

from service.admission import DECODE_ERRORS, DRAFT_SIZE, DecodeLimits, ImagePlan, admit_image, draft_scale
from service.contract import IMAGE_SIZE
from service.errors import ImageTooLargeError, InvalidImageError
from service.settings import ResizeMode

_TARGET: Final = (IMAGE_SIZE, IMAGE_SIZE)
_WHITE: Final = (255, 255, 255)
# Modes Pillow filters directly (LA and RGBA with alpha premultiplied); the rest are converted first.
_FILTERABLE_MODES: Final = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F", "I;16"})
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_HIGH_BIT_DEPTH_MODES: Final = _SIXTEEN_BIT_MODES | {"I", "F"}


def decode_image(
    data: bytes, *, max_pixels: int, resize: ResizeMode = "squash", limits: DecodeLimits | None = None
) -> np.ndarray:
    """Admit and decode ``data`` into a uint8 array (32, 32, 3); raise InvalidImageError or ImageTooLargeError."""
    chosen = limits or DecodeLimits(max_pixels=max_pixels, max_decode_bytes=2**62, max_jpeg_scans=2**31)
    return decode(admit_image(data, chosen), resize=resize)


def decode(plan: ImagePlan, resize: ResizeMode = "squash") -> np.ndarray:
    """Decode an admitted image into the model's input, uint8 (32, 32, 3)."""
    if plan.image is None:
        return _decode_small_jpeg(plan, resize)
    return to_model_input(load_pixels(plan.image), resize=resize)


def _decode_small_jpeg(plan: ImagePlan, resize: ResizeMode) -> np.ndarray:
    """libjpeg-turbo into an array with Pillow's settings (accurate DCT, smooth upsampling): the same pixels."""
    try:
        pixels = simplejpeg.decode_jpeg(
            plan.data, colorspace="GRAY" if plan.grey else "RGB", fastdct=False, fastupsample=False
        )
    except ValueError as exc:
        raise InvalidImageError(f"could not decode the image: {exc}") from exc
    if pixels.shape == (IMAGE_SIZE, IMAGE_SIZE, 3):
        return np.asarray(pixels, dtype=np.uint8)
    image = Image.fromarray(pixels[:, :, 0] if plan.grey else pixels)
    return to_model_input(image, resize=resize)


def load_pixels(image: Image.Image) -> Image.Image:
    """Decode the first frame, upright (EXIF); JPEGs at reduced size where possible. The mode is kept."""
    try:
        if draft_scale(image) > 1:
            image.draft("RGB", DRAFT_SIZE)
        # Animated images: Image.open is positioned on the first frame, and we never seek further.
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image has too many pixels: {exc}") from exc
    except DECODE_ERRORS as exc:
        raise InvalidImageError(f"could not decode the image: {exc}") from exc


def to_model_input(image: Image.Image, *, resize: ResizeMode = "squash") -> np.ndarray:
    """Shrink a decoded image to 32x32 (in its own mode where possible), make it RGB, alpha on white."""
    box = _centre_square(image.size) if resize == "crop" else None
    try:
        if image.mode in _HIGH_BIT_DEPTH_MODES:
            small = _high_bit_depth_to_grey(image, box)
        else:
            small = _shrink(_filterable(image), box)
    except DECODE_ERRORS as exc:
        raise InvalidImageError(f"could not convert the image to RGB: {exc}") from exc
    if small.mode in _ALPHA_MODES:
        # Filtering premultiplied the alpha, so compositing at 32x32 is exact enough.
        rgba = small.convert("RGBA")
        small = Image.new("RGB", _TARGET, _WHITE)
        small.paste(rgba, mask=rgba.getchannel("A"))
    array = np.asarray(small if small.mode == "RGB" else small.convert("RGB"), dtype=np.uint8)
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise InvalidImageError(f"could not convert the image to RGB (got shape {array.shape})")
    return array


def _filterable(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in _FILTERABLE_MODES:
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")  # a palette cannot be filtered
    if mode == "1":
        return image.convert("L")
    if mode in ("RGBa", "La"):
        return image  # already premultiplied; filtered as is
    return image.convert("RGB")  # LAB, HSV, ...: Pillow knows their RGB conversion


def _shrink(image: Image.Image, box: tuple[float, float, float, float] | None) -> Image.Image:
    if image.size == _TARGET:
        return image
    return image.resize(_TARGET, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _high_bit_depth_to_grey(image: Image.Image, box: tuple[float, float, float, float] | None) -> Image.Image:
    """Shrink a 16/32-bit integer or float greyscale image first, then scale it to 8 bits at 32x32.

    The range comes from the whole image (``getextrema`` makes no copy): 16-bit data, and 32-bit integer images
    holding values above 255, map 0..65535 onto 0..255; float images holding at most 1.0 are taken as 0..1,
    anything larger as 0..255.
    """
    extrema = image.getextrema()  # (low, high) for a one-band image
    high = float(extrema[1]) if isinstance(extrema[1], int | float) else 0.0
    if image.mode in _SIXTEEN_BIT_MODES:
        # Pillow cannot box-reduce 16-bit images; a direct Lanczos pass reads the picture once without a copy.
        small = image if image.size == _TARGET else image.resize(_TARGET, Image.Resampling.LANCZOS, box=box)
        scale = 1.0 / 257.0
    else:
        small = _shrink(image, box)
        # Float images holding at most 1.0 are 0..1 (a NaN maximum compares False: taken as 0..255).
        wide_range = high <= 1.0 if image.mode == "F" else high > 255.0
        scale = (255.0 if image.mode == "F" else 1.0 / 257.0) if wide_range else 1.0
    values = np.asarray(small, dtype=np.float32)
    grey = np.clip(np.nan_to_num(values * scale, nan=0.0, posinf=255.0, neginf=0.0), 0.0, 255.0)
    return Image.fromarray(np.rint(grey).astype(np.uint8))


def _centre_square(size: tuple[int, int]) -> tuple[float, float, float, float]:
    width, height = size
    side = min(width, height)
    left = (width - side) / 2
    top = (height - side) / 2
    return (left, top, left + side, top + side)
