"""Encode test images in memory."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    """Encode ``image`` as ``image_format`` bytes."""
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> Image.Image:
    """A solid RGB image."""
    return Image.new("RGB", size, colour)


def jpeg(colour: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (32, 32), quality: int = 95) -> bytes:
    """A solid-colour JPEG."""
    return encode(solid(colour, size), "JPEG", quality=quality)


def png(colour: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (32, 32)) -> bytes:
    """A solid-colour PNG (lossless, so decoded pixels are exact)."""
    return encode(solid(colour, size), "PNG")


def random_png(seed: int = 0) -> tuple[bytes, np.ndarray]:
    """A random 32x32 PNG and its exact pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "PNG"), pixels
