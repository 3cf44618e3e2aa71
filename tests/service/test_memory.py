"""Process memory: the allocator settings and the collector's tuning after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service.memory import GC_YOUNG_THRESHOLD, release_memory, tune_allocator, tune_garbage_collector


@pytest.fixture
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_after_start_up_the_live_heap_is_frozen_and_young_collections_wait(collector_restored: None) -> None:
    long_lived = [[index] for index in range(1000)]  # containers the collector would otherwise keep walking
    threshold = gc.get_threshold()
    assert _walked(long_lived)
    tune_garbage_collector()
    assert not _walked(long_lived)  # frozen: in no generation the collector walks
    young, middle, old = gc.get_threshold()
    assert young == GC_YOUNG_THRESHOLD > 700  # Python's default
    assert (middle, old) == threshold[1:]  # the older generations keep their pace
    assert gc.is_tracked(long_lived)


def _walked(objects: list[list[int]]) -> bool:
    """Whether the collector's generations hold these objects (frozen ones are in none of them)."""
    walked = {id(each) for each in gc.get_objects()}
    return id(objects) in walked and all(id(each) in walked for each in objects)


def test_the_allocator_calls_do_not_fail_on_this_libc() -> None:
    assert isinstance(tune_allocator(), bool)
    release_memory()  # malloc_trim where there is one, nothing elsewhere
