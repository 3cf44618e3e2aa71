"""Progress lines on stderr, stamped with the time since the run started."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints `[  12.3s] section: message` lines so a long run shows where it is."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._started = time.monotonic()

    def __call__(self, section: str, message: str) -> None:
        elapsed = time.monotonic() - self._started
        print(f"[{elapsed:7.1f}s] {section}: {message}", file=self._stream, flush=True)

    @property
    def elapsed_seconds(self) -> float:
        """Seconds since this progress reporter was created."""
        return time.monotonic() - self._started
