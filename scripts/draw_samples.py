"""Draw the sample pictures the README's curl lines send (samples/*.jpg): simple shapes, not CIFAR-10 images.

Run `python scripts/draw_samples.py` to redraw them; tests/test_samples.py checks the model still names them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SIZE = (256, 256)


def aeroplane() -> Image.Image:
    """A white jet against a blue sky."""
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(SIZE[1]):
        draw.line([(0, y), (SIZE[0], y)], fill=(110 + y // 6, 160 + y // 5, 230))
    draw.polygon([(40, 130), (210, 118), (225, 128), (210, 138)], fill=(235, 235, 240))
    draw.polygon([(110, 126), (150, 126), (120, 60), (105, 60)], fill=(220, 220, 228))
    draw.polygon([(110, 132), (150, 132), (120, 200), (105, 200)], fill=(205, 205, 215))
    draw.polygon([(45, 128), (70, 128), (50, 95), (40, 95)], fill=(215, 215, 225))
    return image


def ship() -> Image.Image:
    """A dark hull with a white superstructure on deep water."""
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 256, 150], fill=(170, 200, 230))
    draw.rectangle([0, 150, 256, 256], fill=(40, 80, 130))
    draw.polygon([(40, 150), (220, 150), (200, 185), (60, 185)], fill=(60, 60, 70))
    draw.rectangle([90, 110, 170, 150], fill=(230, 230, 230))
    draw.rectangle([120, 80, 135, 110], fill=(200, 60, 50))
    return image


def automobile() -> Image.Image:
    """A red car on a grey road."""
    image = Image.new("RGB", SIZE, (190, 190, 185))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 190, 256, 256], fill=(70, 70, 70))
    draw.rounded_rectangle([30, 120, 226, 185], 20, fill=(200, 20, 30))
    draw.polygon([(70, 120), (95, 80), (170, 80), (195, 120)], fill=(190, 20, 30))
    draw.polygon([(82, 118), (100, 88), (128, 88), (128, 118)], fill=(150, 190, 220))
    draw.polygon([(134, 118), (134, 88), (165, 88), (183, 118)], fill=(150, 190, 220))
    draw.ellipse([55, 160, 105, 210], fill=(20, 20, 20))
    draw.ellipse([150, 160, 200, 210], fill=(20, 20, 20))
    return image


DRAWINGS: dict[str, Callable[[], Image.Image]] = {"aeroplane": aeroplane, "ship": ship, "automobile": automobile}


def main() -> int:
    """Write every drawing as samples/<name>.jpg."""
    SAMPLES.mkdir(exist_ok=True)
    for name, draw in DRAWINGS.items():
        draw().save(SAMPLES / f"{name}.jpg", "JPEG", quality=90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
