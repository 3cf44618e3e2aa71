"""The decode pool: worker threads for images too costly to decode on the event loop, behind a bounded queue.

Pillow releases the GIL while it decodes and resizes, so the event loop keeps serving while a worker decodes.
Each request submits its images one at a time (``service.pipeline``), so a batch of expensive images holds at
most one worker and waits its turn behind other requests' images; past ``max_queue`` images waiting or
running, new ones are refused with 503 instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Final, TypeVar

from service.errors import OverloadedError, ShuttingDownError
from service.memory import release_memory

T = TypeVar("T")

CGROUP_CPU_MAX: Final = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>", or "max <period>"


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity mask (a cpuset), capped by its cgroup's CPU quota (a container's
    CPU limit: a pod limited to 2 CPUs on a 64-core node gets 2 decode threads, not 64)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 here, or a format this does not know
        pass
    return cpus


def _then_release(function: Callable[..., T], *arguments: object) -> T:
    try:
        return function(*arguments)
    finally:
        release_memory()


class DecodePool:
    """Run decodes in ``workers`` threads, at most ``max_queue`` images waiting or running at once."""

    def __init__(self, workers: int, max_queue: int) -> None:
        self.workers = workers or available_cpus()
        self.max_queue = max_queue
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0

    @property
    def depth(self) -> int:
        """Images waiting for a worker or being decoded."""
        return self._pending

    def start(self) -> None:
        """Start the worker threads (lazily, as work arrives)."""
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="decode")

    async def run(self, function: Callable[..., T], *arguments: object, heavy: bool = False) -> T:
        """``function(*arguments)`` in a worker thread; 503 when the queue is full.

        ``heavy`` work gives the memory it freed back to the system afterwards, in the worker.
        """
        if self._executor is None:
            raise ShuttingDownError("the server is shutting down")
        if self._pending >= self.max_queue:
            raise OverloadedError(
                f"the decode queue is full ({self.max_queue} images, CIFAR10_MAX_DECODE_QUEUE); retry later",
                headers={"Retry-After": "1"},
            )
        self._pending += 1
        try:
            call = partial(_then_release, function) if heavy else function
            return await asyncio.get_running_loop().run_in_executor(self._executor, call, *arguments)
        finally:
            self._pending -= 1

    async def stop(self) -> None:
        """Let running decodes finish, then stop the threads."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)
