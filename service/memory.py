"""Process memory: make big, short-lived buffers go back to the system when they are freed.

glibc serves allocations over its mmap threshold with their own mappings and unmaps them on free, but it raises
that threshold to the size of every such block freed (up to 32 MiB), after which a decoded photo's buffers
come from the heap and stay resident after the request. A fixed threshold keeps every large decode buffer
returnable; two arenas instead of eight per core stop decode threads from each keeping a heap of their own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Final

logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD: Final = -3  # mallopt parameters, from glibc's malloc.h
_M_ARENA_MAX: Final = -8
MMAP_THRESHOLD_BYTES: Final = 256 * 1024  # a 32x32 batch of 32 images (98 KB) stays below it
ARENA_MAX: Final = 2


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold and cap its arenas; say whether it applied (not glibc: nothing to do)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not applied:
        logger.debug("mallopt refused the allocator settings")
    return applied
