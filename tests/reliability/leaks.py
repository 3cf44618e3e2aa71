"""What must never appear in a response body or a log line: tracebacks, internal paths, addresses, image bytes."""

from __future__ import annotations

import re
from typing import Final

from reliability.catalogue import SECRET_MARKER

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
