"""Process memory: make big, short-lived buffers go back to the system when they are freed, and keep Python's
cycle collector from walking the long-lived heap on every few requests.

glibc serves allocations over its mmap threshold with their own mappings and unmaps them on free, but it raises
that threshold to the size of every such block freed (up to 32 MiB), after which a decoded photo's buffers
come from the heap and stay resident after the request. A fixed threshold keeps every large decode buffer
returnable; two arenas instead of eight per core stop decode threads from each keeping a heap of their own.

Python's collector runs a young collection every 700 net container allocations; 32 requests in flight hold
about 3,000, so under load it ran once every ten requests and took ~30 us per request (8 %), re-examining the
modules, the model session and the app each time their generation came up. After start-up everything alive is
frozen (never examined again) and young collections wait for 10,000 allocations.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from functools import cache
from typing import Final

logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD: Final = -3  # mallopt parameters, from glibc's malloc.h
_M_ARENA_MAX: Final = -8
MMAP_THRESHOLD_BYTES: Final = 256 * 1024  # a 32x32 batch of 32 images (98 KB) stays below it
ARENA_MAX: Final = 2
GC_YOUNG_THRESHOLD: Final = 10_000  # net container allocations between young collections (Python's default: 700)


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


def tune_garbage_collector() -> None:
    """After start-up: collect once, freeze what is alive (the collector never walks it again) and let young
    collections wait for more allocations. Reference counting still frees almost everything at once; only
    cycles wait for a collection."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
