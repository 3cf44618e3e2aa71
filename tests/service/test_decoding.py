"""The decode pool: work runs in its threads, the queue is bounded (503), stop waits for running decodes."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from service.decoding import DecodePool, available_cpus
from service.errors import OverloadedError, ShuttingDownError


def test_workers_default_to_the_cpus_this_process_may_use() -> None:
    assert DecodePool(0, 8).workers == available_cpus() >= 1
    assert DecodePool(3, 8).workers == 3


@pytest.mark.parametrize(("cpu_max", "cap"), [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000", 1)])
def test_a_cgroup_cpu_quota_caps_the_cpus(tmp_path: Path, cpu_max: str, cap: int | None) -> None:
    limit = tmp_path / "cpu.max"
    limit.write_text(cpu_max)
    unlimited = available_cpus(tmp_path / "absent")
    assert available_cpus(limit) == (unlimited if cap is None else min(cap, unlimited))
    limit.write_text("garbage")
    assert available_cpus(limit) == unlimited


def test_work_runs_off_the_event_loop_thread_and_a_full_queue_is_503() -> None:
    gate = threading.Event()
    threads: list[int] = []

    def blocked(value: int) -> int:
        threads.append(threading.get_ident())
        gate.wait(5)
        return value * 2

    async def scenario() -> None:
        pool = DecodePool(workers=1, max_queue=2)
        pool.start()
        running = [asyncio.create_task(pool.run(blocked, value)) for value in (1, 2)]
        await asyncio.sleep(0)
        assert pool.depth == 2
        with pytest.raises(OverloadedError) as caught:
            await pool.run(blocked, 3)
        assert caught.value.status_code == 503 and "CIFAR10_MAX_DECODE_QUEUE" in caught.value.message
        gate.set()
        assert await asyncio.gather(*running) == [2, 4]
        assert pool.depth == 0
        assert threading.get_ident() not in threads
        await pool.stop()
        with pytest.raises(ShuttingDownError):
            await pool.run(blocked, 4)

    asyncio.run(asyncio.wait_for(scenario(), 10))
