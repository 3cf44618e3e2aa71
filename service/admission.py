"""Admission: what decoding an image will cost, decided from its header alone, before any pixel is decoded.

An image over a limit is refused here, with the setting that raises the limit in the message; an image that is
admitted carries its plan: the opened (header-only) Pillow image and whether it is cheap enough to decode on
the event loop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from PIL import Image, UnidentifiedImageError

from service.errors import ImageTooLargeError, InvalidImageError

# Pillow plugins we accept; anything else (EPS, PSD, ...) is refused to keep the attack surface small.
ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "TGA", "ICO", "AVIF")
# Images up to this many pixels decode on the event loop: a 32x32 JPEG decodes in ~30 us, a thread hop costs
# more. Anything larger decodes in a worker thread so it cannot hold up other requests.
INLINE_DECODE_PIXELS: Final = 64 * 64
# Every exception class Pillow's decoders are known to raise on bad data.
DECODE_ERRORS: Final = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError)


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What one image may cost to decode."""

    max_pixels: int


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """An admitted image: opened (header parsed, no pixels decoded) and how it should be decoded."""

    image: Image.Image
    inline: bool  # cheap enough to decode on the event loop


def admit_image(data: bytes, limits: DecodeLimits) -> ImagePlan:
    """Open ``data``'s header and refuse it unless its decode cost is within ``limits``."""
    if not data:
        raise InvalidImageError("the upload is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image has too many pixels (limit {limits.max_pixels})") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError("could not decode the image: unknown or unsupported format") from exc
    except DECODE_ERRORS as exc:
        raise InvalidImageError(f"could not decode the image: {exc}") from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImageError(f"image has an invalid size {width}x{height}")
    pixels = width * height
    if pixels > limits.max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {pixels} pixels, over the limit of {limits.max_pixels} "
            "(CIFAR10_MAX_IMAGE_PIXELS)"
        )
    return ImagePlan(image=image, inline=pixels <= INLINE_DECODE_PIXELS)
