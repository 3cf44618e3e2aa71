"""What must never appear in a response body or a log line: tracebacks, internal paths, addresses, image bytes;
and an image whose bytes are easy to spot."""

from __future__ import annotations

import re
from typing import Final

from PIL import Image, PngImagePlugin

from benchmarks.inputs import encode

# A marker written into image metadata: it must never show up in a log line or an error body.
SECRET_MARKER: Final = "SECRET-PIXELS-5d41402abc4b2a76"

# Internal details an error body must not carry.
LEAK_PATTERNS: Final = {
    "traceback": re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"),
    "python file": re.compile(r"[\w/.-]+\.py\b"),
    "internal path": re.compile(r"(/work|/home|/root|/usr|/tmp|/app|/opt|site-packages|\.venv)/"),
    "memory address": re.compile(r"\bat 0x[0-9a-fA-F]{6,}"),
    "image bytes": re.compile(re.escape(SECRET_MARKER)),
}


def leaks_in(text: str) -> list[str]:
    """The kinds of internal detail found in ``text`` (empty when clean)."""
    return [kind for kind, pattern in LEAK_PATTERNS.items() if pattern.search(text)]


def marked_png() -> bytes:
    """A valid 32x32 PNG carrying :data:`SECRET_MARKER` in a text chunk (for the no-image-bytes-in-logs check)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET_MARKER)
    return encode(Image.new("RGB", (32, 32), (1, 2, 3)), "PNG", pnginfo=info)
