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
from functools import cache
from typing import Final

logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD: Final = -3  # mallopt parameters, from glibc's malloc.h
_M_ARENA_MAX: Final = -8
MMAP_THRESHOLD_BYTES: Final = 256 * 1024  # a 32x32 batch of 32 images (98 KB) stays below it
ARENA_MAX: Final = 2


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return None if name is None else ctypes.CDLL(name)
    except OSError:
        return None


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim; nothing elsewhere).

    Called after work that allocated many small objects (a big V2 JSON tensor, a big decode): those live in
    the heap, not in their own mappings, and the heap only shrinks when asked.
    """
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold and cap its arenas; say whether it applied (not glibc: nothing to do)."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:  # not glibc: musl and others have no mallopt
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not applied:
        logger.debug("mallopt refused the allocator settings")
    return applied
