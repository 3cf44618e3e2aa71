"""Turn uploaded image bytes into the model's input: one uint8 RGB array of shape (32, 32, 3).

Resizing: ``squash`` (the default) scales the whole picture to 32x32, distorting the aspect ratio.
CIFAR-10 images show the whole object filling a square frame, and the original service squashed too,
so squashing never cuts the object off a wide photo. ``crop`` takes the largest centred square first:
no distortion, better for photos whose subject sits in the middle. Both use Lanczos (sharp and
alias-free when shrinking), with ``reducing_gap`` so big images are first box-reduced cheaply.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from PIL import Image, ImageOps

from service.admission import DECODE_ERRORS, DecodeLimits, admit_image
from service.contract import IMAGE_SIZE
from service.errors import ImageTooLargeError, InvalidImageError
from service.settings import ResizeMode

# JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale; ask for at least this size so the Lanczos
# resize still has detail to average (a 24 MP photo decodes as ~750x500 instead of 6000x4000).
DRAFT_SIZE: Final = (4 * IMAGE_SIZE, 4 * IMAGE_SIZE)
_WHITE: Final = (255, 255, 255)
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_BIT_DEPTH_MODES: Final = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def decode_image(data: bytes, *, max_pixels: int, resize: ResizeMode = "squash") -> np.ndarray:
    """Admit and decode ``data`` into a uint8 array (32, 32, 3); raise InvalidImageError or ImageTooLargeError."""
    return decode(admit_image(data, DecodeLimits(max_pixels=max_pixels)).image, resize=resize)


def decode(image: Image.Image, *, resize: ResizeMode = "squash") -> np.ndarray:
    """Decode an admitted (opened, header-only) image into the model's input, uint8 (32, 32, 3)."""
    return to_model_input(load_pixels(image), resize=resize)


def load_pixels(image: Image.Image) -> Image.Image:
    """Decode the first frame, upright (EXIF) and in mode RGB or RGBA; JPEGs at reduced size where possible."""
    width, height = image.size
    try:
        if image.format in ("JPEG", "MPO") and (width > DRAFT_SIZE[0] * 2 or height > DRAFT_SIZE[1] * 2):
            image.draft("RGB", DRAFT_SIZE)
        # Animated images: Image.open is positioned on the first frame, and we never seek further.
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        return _to_rgb_or_rgba(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image has too many pixels: {exc}") from exc
    except DECODE_ERRORS as exc:
        raise InvalidImageError(f"could not decode the image: {exc}") from exc


def to_model_input(image: Image.Image, *, resize: ResizeMode = "squash") -> np.ndarray:
    """Resize an RGB/RGBA image to 32x32 (alpha composited on white) and return it as uint8 (32, 32, 3)."""
    target = (IMAGE_SIZE, IMAGE_SIZE)
    if image.size != target:
        box = _centre_square(image.size) if resize == "crop" else None
        image = image.resize(target, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    if image.mode == "RGBA":
        # Resizing RGBA premultiplies alpha, so compositing after the (cheap, 32x32) resize is exact enough.
        background = Image.new("RGB", target, _WHITE)
        background.paste(image, mask=image.getchannel("A"))
        image = background
    array = np.asarray(image, dtype=np.uint8)
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise InvalidImageError(f"could not convert the image to RGB (got shape {array.shape})")
    return array


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _HIGH_BIT_DEPTH_MODES:
        return _high_bit_depth_to_rgb(image)
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    # L, 1, P, CMYK, YCbCr, RGBX, LAB, HSV ... Pillow knows their RGB conversion.
    return image.convert("RGB")


def _high_bit_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float greyscale to 8 bits instead of clipping at 255 like convert() does."""
    values = np.asarray(image)
    if values.ndim != 2:
        raise InvalidImageError(f"unsupported image mode {image.mode}")
    if image.mode == "F":
        finite = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        # Float images conventionally hold 0..1; anything larger is taken as 0..255.
        scale = 255.0 if finite.size and float(finite.max()) <= 1.0 else 1.0
        grey = np.clip(finite * scale, 0.0, 255.0)
    else:
        wide = values.astype(np.float32)
        # 16-bit data (and 32-bit "I" images holding 16-bit samples) maps 0..65535 onto 0..255.
        scale = 1.0 / 257.0 if image.mode.startswith("I;16") or (wide.size and float(wide.max()) > 255.0) else 1.0
        grey = np.clip(wide * scale, 0.0, 255.0)
    return Image.fromarray(np.rint(grey).astype(np.uint8)).convert("RGB")


def _centre_square(size: tuple[int, int]) -> tuple[float, float, float, float]:
    width, height = size
    side = min(width, height)
    left = (width - side) / 2
    top = (height - side) / 2
    return (left, top, left + side, top + side)
