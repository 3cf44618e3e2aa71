"""The adaptive batcher: ordering, coalescing, max wait, failures, backpressure, drain, off switch."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from service import batching
from service.batching import INLINE_BATCH_MAX_SECONDS, AdaptiveBatcher, Deadlines
from service.errors import InferenceFailedError, OverloadedError, ShuttingDownError


class Recorder:
    """A fake model: doubles its input, records batch sizes, can block or fail on demand."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False
        self.started = threading.Event()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.started.set()
        self.gate.wait(5)
        self.batches.append(len(batch))
        if self.fail:
            raise RuntimeError("boom")
        return batch.astype(np.float32) * 2


class Observer:
    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []
        self.waits = 0

    def observe_batch(self, images: int, requests: int, seconds: float, cpu_seconds: float) -> None:
        assert seconds >= 0
        self.runs.append((images, requests))

    def observe_queue_wait(self, seconds: float) -> None:
        assert seconds >= 0
        self.waits += 1


def rows(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.uint8).reshape(-1, 1)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the event loop until ``condition`` holds (an observable state, not a guessed delay)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the batcher never reached the expected state"
        await asyncio.sleep(0.001)


def run(test: Callable[[], object]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=10))  # type: ignore[arg-type]


def test_each_request_gets_its_own_rows_in_one_batch() -> None:
    model = Recorder()
    observer = Observer()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=32, max_wait_s=0, observer=observer)
        await batcher.start()
        results = await asyncio.gather(*(batcher.predict(rows(i, i + 100)) for i in range(10)))
        await batcher.stop()
        for i, result in enumerate(results):
            np.testing.assert_array_equal(result.ravel(), [2 * i, 2 * (i + 100)])

    run(scenario)
    assert model.batches == [20]
    assert observer.runs == [(20, 10)]
    assert observer.waits == 10  # each request's wait for its batch


def test_batches_never_exceed_the_max_and_never_split_a_request() -> None:
    model = Recorder()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=5, max_wait_s=0)
        await batcher.start()
        results = await asyncio.gather(*(batcher.predict(rows(i, i)) for i in range(6)))
        await batcher.stop()
        assert [int(result[0, 0]) for result in results] == [2 * i for i in range(6)]

    run(scenario)
    assert model.batches == [4, 4, 4]


def test_a_request_bigger_than_the_max_runs_alone() -> None:
    model = Recorder()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=2, max_wait_s=0)
        await batcher.start()
        result = await batcher.predict(rows(*range(5)))
        await batcher.stop()
        assert result.shape == (5, 1)

    run(scenario)
    assert model.batches == [5]


def test_a_lone_request_on_an_idle_server_does_not_wait() -> None:
    async def scenario() -> None:
        batcher = AdaptiveBatcher(Recorder(), max_wait_s=2.0)
        await batcher.start()
        started = time.perf_counter()
        await batcher.predict(rows(1))
        assert time.perf_counter() - started < 1.0
        await batcher.stop()

    run(scenario)


def test_under_concurrency_the_worker_waits_up_to_the_max_wait_for_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "ARRIVAL_GAP_S", 5.0)  # the overall wait, not the gap between arrivals, ends it
    model = Recorder()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=32, max_wait_s=0.3)
        await batcher.start()
        await asyncio.gather(batcher.predict(rows(1)), batcher.predict(rows(2)))  # concurrency observed
        # Whether or not the worker took the first request before the second arrives, it waits for more until
        # the deadline: the previous batch showed concurrency.
        started = time.perf_counter()
        first = asyncio.create_task(batcher.predict(rows(3)))
        second = asyncio.create_task(batcher.predict(rows(4)))
        await asyncio.gather(first, second)
        waited = time.perf_counter() - started
        await batcher.stop()
        assert 0.1 < waited < 2.0  # the deadline (monotonic) ended the wait, not a full batch

    run(scenario)
    assert model.batches == [2, 2]


@pytest.mark.parametrize(
    ("clients", "gap_s"),
    [
        # Two clients, both requests in: no third can come over HTTP/1.1 (the gap is long: only the count ends it).
        (2, 5.0),
        # A hundred connections, two requests: the idle ninety-eight (a proxy's pool, an attacker's) hold the batch
        # for the gap after the last request that joined, not for the whole wait.
        (100, batching.ARRIVAL_GAP_S),
    ],
    ids=["every-client-is-in", "no-request-within-the-gap"],
)
def test_the_wait_ends_long_before_the_max_wait(monkeypatch: pytest.MonkeyPatch, clients: int, gap_s: float) -> None:
    monkeypatch.setattr(batching, "ARRIVAL_GAP_S", gap_s)
    model = Recorder()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=32, max_wait_s=5.0, clients=lambda: clients)
        await batcher.start()
        await asyncio.gather(batcher.predict(rows(1)), batcher.predict(rows(2)))  # concurrency observed
        started = time.perf_counter()
        await asyncio.gather(batcher.predict(rows(3)), batcher.predict(rows(4)))
        assert time.perf_counter() - started < 1.0
        await batcher.stop()

    run(scenario)
    assert model.batches == [2, 2]


def test_the_wait_holds_a_batch_for_a_connected_client_without_a_request_in_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batching, "ARRIVAL_GAP_S", 5.0)  # only the connection count can end this wait
    model = Recorder()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=32, max_wait_s=5.0, clients=lambda: 3)
        await batcher.start()
        await asyncio.gather(batcher.predict(rows(1)), batcher.predict(rows(2)))  # the first batch ran
        # Three clients, two requests: the batch waits for the third client's request, which joins it.
        pair = asyncio.gather(batcher.predict(rows(3)), batcher.predict(rows(4)))
        await until(lambda: batcher.queue_depth == 0)  # the worker took both and is waiting for more
        await asyncio.sleep(0.05)
        assert model.batches == [2]
        await asyncio.gather(pair, batcher.predict(rows(5)))
        await batcher.stop()

    run(scenario)
    assert model.batches == [2, 3]


def test_a_request_that_reaches_the_queue_just_after_the_gap_still_joins(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gap's timer can fire before the loop has read a request that already arrived (timers come first in a
    # turn of the loop): such a request, enqueued in the passes right after the timeout, joins the batch.
    monkeypatch.setattr(batching, "ARRIVAL_GAP_S", 0.0)
    model = Recorder()
    late: list[asyncio.Task[np.ndarray]] = []
    armed = False

    def clients() -> int:
        if armed and not late:
            # Asked while waiting: a third request starts in the next turn, as if its bytes had just been read.
            loop = asyncio.get_running_loop()
            loop.call_soon(lambda: late.append(asyncio.ensure_future(batcher.predict(rows(5)))))
        return 3

    batcher = AdaptiveBatcher(model, max_batch_size=32, max_wait_s=5.0, clients=clients)

    async def scenario() -> None:
        nonlocal armed
        await batcher.start()
        await asyncio.gather(batcher.predict(rows(1)), batcher.predict(rows(2)))
        armed = True
        await asyncio.gather(batcher.predict(rows(3)), batcher.predict(rows(4)))
        assert late and (await late[0]).tolist() == [[10.0]]
        await batcher.stop()

    run(scenario)
    assert model.batches == [2, 3]


def test_without_a_max_wait_requests_are_not_held_back() -> None:
    model = Recorder()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=32, max_wait_s=0)
        await batcher.start()
        await asyncio.gather(batcher.predict(rows(1)), batcher.predict(rows(2)))
        first = asyncio.create_task(batcher.predict(rows(3)))
        await until(lambda: len(model.batches) == 2)  # the lone request ran without waiting for company
        await asyncio.gather(first, batcher.predict(rows(4)))
        await batcher.stop()

    run(scenario)
    assert model.batches == [2, 1, 1]


def test_a_failing_batch_fails_every_waiter_and_the_next_batch_works() -> None:
    model = Recorder()
    model.fail = True

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_wait_s=0)
        await batcher.start()
        outcomes = await asyncio.gather(*(batcher.predict(rows(i)) for i in range(4)), return_exceptions=True)
        assert all(isinstance(outcome, InferenceFailedError) for outcome in outcomes)
        assert all("RuntimeError" in str(outcome) for outcome in outcomes)
        model.fail = False
        np.testing.assert_array_equal(await batcher.predict(rows(7)), [[14]])
        await batcher.stop()

    run(scenario)


def test_a_model_returning_the_wrong_row_count_fails_the_batch() -> None:
    async def scenario() -> None:
        batcher = AdaptiveBatcher(lambda batch: np.zeros((1, 1), np.float32), max_wait_s=0)
        await batcher.start()
        outcomes = await asyncio.gather(batcher.predict(rows(1)), batcher.predict(rows(2)), return_exceptions=True)
        assert all(isinstance(outcome, InferenceFailedError) for outcome in outcomes)
        await batcher.stop()

    run(scenario)


def test_a_full_queue_answers_overloaded() -> None:
    model = Recorder()
    model.gate.clear()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=1, max_wait_s=0, max_queue=2)
        await batcher.start()
        running = asyncio.create_task(batcher.predict(rows(0)))
        await asyncio.to_thread(model.started.wait, 5)  # the worker holds request 0 in the model
        queued = [asyncio.create_task(batcher.predict(rows(i))) for i in (1, 2)]
        await until(lambda: batcher.queue_depth == 2)
        with pytest.raises(OverloadedError) as caught:
            await batcher.predict(rows(3))
        assert caught.value.status_code == 503
        assert caught.value.headers["Retry-After"] == "1"
        model.gate.set()
        results = await asyncio.gather(running, *queued)
        assert [int(result[0, 0]) for result in results] == [0, 2, 4]
        await batcher.stop()

    run(scenario)


def test_stop_drains_in_flight_work_and_refuses_new_work() -> None:
    model = Recorder()
    model.gate.clear()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=2, max_wait_s=0)
        await batcher.start()
        pending = [asyncio.create_task(batcher.predict(rows(i))) for i in range(5)]
        await asyncio.to_thread(model.started.wait, 5)
        stopping = asyncio.create_task(batcher.stop())
        await asyncio.sleep(0)  # stop() refuses new work from its first step
        with pytest.raises(ShuttingDownError):
            await batcher.predict(rows(9))
        assert not stopping.done()
        model.gate.set()
        await stopping
        results = await asyncio.gather(*pending)
        assert [int(result[0, 0]) for result in results] == [0, 2, 4, 6, 8]

    run(scenario)


def test_a_cancelled_waiter_does_not_disturb_the_others() -> None:
    model = Recorder()
    model.gate.clear()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, max_batch_size=1, max_wait_s=0)
        await batcher.start()
        first = asyncio.create_task(batcher.predict(rows(1)))
        await asyncio.to_thread(model.started.wait, 5)
        cancelled = asyncio.create_task(batcher.predict(rows(2)))
        kept = asyncio.create_task(batcher.predict(rows(3)))
        await asyncio.sleep(0)
        cancelled.cancel()
        model.gate.set()
        assert int((await first)[0, 0]) == 2
        assert int((await kept)[0, 0]) == 6
        await batcher.stop()

    run(scenario)
    assert model.batches == [1, 1]  # the cancelled request never reached the model


def test_the_event_loop_keeps_running_while_the_model_runs() -> None:
    def slow_model(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.2)
        return batch.astype(np.float32)

    async def scenario() -> None:
        batcher = AdaptiveBatcher(slow_model, max_wait_s=0)
        await batcher.start()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        await batcher.predict(rows(1))
        ticking.cancel()
        await batcher.stop()
        assert ticks >= 5

    run(scenario)


@pytest.mark.parametrize("fail", [False, True])
def test_off_switch_calls_the_model_directly(fail: bool) -> None:
    model = Recorder()
    model.fail = fail
    observer = Observer()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, enabled=False, observer=observer)
        await batcher.start()
        outcomes = await asyncio.gather(*(batcher.predict(rows(i)) for i in range(3)), return_exceptions=True)
        await batcher.stop()
        if fail:
            assert all(isinstance(outcome, InferenceFailedError) for outcome in outcomes)
        else:
            assert [int(outcome[0, 0]) for outcome in outcomes] == [0, 2, 4]  # type: ignore[index]
        with pytest.raises(ShuttingDownError):
            await batcher.predict(rows(1))

    run(scenario)
    assert model.batches == [1, 1, 1]


def test_off_switch_still_bounds_in_flight_work() -> None:
    model = Recorder()
    model.gate.clear()

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, enabled=False, max_queue=2)
        await batcher.start()
        pending = [asyncio.create_task(batcher.predict(rows(i))) for i in range(2)]
        await until(lambda: batcher.queue_depth == 2)
        with pytest.raises(OverloadedError):
            await batcher.predict(rows(3))
        model.gate.set()
        await asyncio.gather(*pending)
        await batcher.stop()

    run(scenario)


def test_predict_before_start_is_refused() -> None:
    async def scenario() -> None:
        with pytest.raises(ShuttingDownError):
            await AdaptiveBatcher(Recorder()).predict(rows(1))

    run(scenario)


def test_a_lone_small_request_runs_on_the_event_loop_once_runs_are_known_to_be_fast() -> None:
    threads: list[int] = []

    def model(batch: np.ndarray) -> np.ndarray:
        threads.append(threading.get_ident())
        return batch.astype(np.float32)

    in_flight = [1]

    async def scenario() -> None:
        batcher = AdaptiveBatcher(model, alone=lambda: in_flight[0] == 1)
        await batcher.start()
        await batcher.predict(rows(1))  # no run measured yet: the inference thread
        await batcher.predict(rows(2))  # runs are fast and it is alone: this thread
        in_flight[0] = 5
        await batcher.predict(rows(3))  # other requests in flight: it may get company, so it queues
        in_flight[0] = 1
        await batcher.predict(np.zeros((8, 1), np.uint8))  # too big to hold the loop
        await batcher.stop()

    loop_thread = threading.get_ident()  # asyncio.run runs the loop on this thread
    run(scenario)
    assert [thread == loop_thread for thread in threads] == [False, True, False, False]


def test_a_slow_model_is_never_run_on_the_event_loop() -> None:
    threads: list[int] = []

    def slow(batch: np.ndarray) -> np.ndarray:
        threads.append(threading.get_ident())
        time.sleep(0.002)
        return batch.astype(np.float32)

    async def scenario() -> None:
        batcher = AdaptiveBatcher(slow, alone=lambda: True)
        await batcher.start()
        for value in range(4):
            await batcher.predict(rows(value))
        await batcher.stop()

    run(scenario)
    assert threading.get_ident() not in threads


def test_inline_batches_run_on_the_event_loop_once_batches_are_known_to_be_quick() -> None:
    threads: list[int] = []
    model = Recorder()

    def recording(batch: np.ndarray) -> np.ndarray:
        threads.append(threading.get_ident())
        return model(batch)

    async def scenario() -> None:
        batcher = AdaptiveBatcher(recording, inline_batches=True)
        await batcher.start()
        await batcher.predict(rows(1))  # nothing measured yet: the inference thread
        first = await asyncio.gather(*(batcher.predict(rows(value)) for value in range(2, 6)))
        second = await asyncio.gather(*(batcher.predict(rows(value)) for value in range(6, 9)))
        await batcher.stop()
        # Still batched, and each request still gets its own rows.
        assert [row.tolist() for row in first + second] == [[[2.0 * value]] for value in range(2, 9)]

    loop_thread = threading.get_ident()
    run(scenario)
    assert [thread == loop_thread for thread in threads] == [False, True, True]
    assert model.batches == [1, 4, 3]


def test_inline_batches_leave_a_slow_model_in_the_inference_thread() -> None:
    threads: list[int] = []

    def slow(batch: np.ndarray) -> np.ndarray:
        threads.append(threading.get_ident())
        time.sleep(INLINE_BATCH_MAX_SECONDS * 1.5)
        return batch.astype(np.float32)

    async def scenario() -> None:
        batcher = AdaptiveBatcher(slow, inline_batches=True)
        await batcher.start()
        for value in range(3):
            await batcher.predict(rows(value))
        await batcher.stop()

    run(scenario)
    assert len(threads) == 3 and threading.get_ident() not in threads


def test_inline_batches_give_the_event_loop_a_turn_between_them() -> None:
    per_batch_s = 0.004

    def model(batch: np.ndarray) -> np.ndarray:
        time.sleep(per_batch_s)
        return batch.astype(np.float32)

    async def scenario() -> float:
        batcher = AdaptiveBatcher(model, max_batch_size=2, inline_batches=True)
        await batcher.start()
        await batcher.predict(rows(0))  # measured in the inference thread: from now on batches run inline
        longest = 0.0
        draining = True

        async def ticker() -> None:
            nonlocal longest
            while draining:
                before = time.perf_counter()
                await asyncio.sleep(0)
                longest = max(longest, time.perf_counter() - before)

        ticking = asyncio.create_task(ticker())
        await asyncio.gather(*(batcher.predict(rows(value)) for value in range(20)))  # ten batches queued at once
        draining = False
        await ticking
        await batcher.stop()
        return longest

    longest = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert longest < 3 * per_batch_s, f"the loop waited {longest * 1000:.1f} ms: batches ran back to back"


def test_inline_batches_leave_a_model_with_a_fixed_cost_per_call_in_the_thread() -> None:
    threads: list[int] = []

    def fixed_cost(batch: np.ndarray) -> np.ndarray:
        threads.append(threading.get_ident())
        time.sleep(INLINE_BATCH_MAX_SECONDS * 1.2 + 0.0001 * len(batch))  # mostly per call, little per image
        return batch.astype(np.float32)

    async def scenario() -> None:
        batcher = AdaptiveBatcher(fixed_cost, max_batch_size=32, inline_batches=True)
        await batcher.start()
        await asyncio.gather(*(batcher.predict(rows(value)) for value in range(33)))  # big batches: cheap per image
        for value in range(3):
            await batcher.predict(rows(value))  # a small batch still costs the whole fixed cost
        await batcher.stop()

    run(scenario)
    assert threads and threading.get_ident() not in threads


# --- deadlines: one timer for every waiting call ---------------------------------------------------------------


def test_deadlines_fail_what_is_late_in_order_and_leave_what_finished() -> None:
    run(_deadlines_fail_what_is_late_in_order_and_leave_what_finished)


async def _deadlines_fail_what_is_late_in_order_and_leave_what_finished() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines()
    now = loop.time()
    late, later, finished, on_time = (loop.create_future() for _ in range(4))
    deadlines.watch(now + 0.10, later)
    deadlines.watch(now + 0.05, late)  # earlier than the armed timer: the timer moves
    deadlines.watch(now + 0.01, finished)
    deadlines.watch(now + 60, on_time)
    finished.set_result(rows(1))
    await until(late.done)
    assert isinstance(late.exception(), TimeoutError) and not later.done()
    await until(later.done)
    assert isinstance(later.exception(), TimeoutError)
    assert loop.time() >= now + 0.10  # never before its deadline
    assert finished.result().tolist() == [[1]] and not on_time.done()
    assert len(deadlines) == 1  # only the call still waiting
    on_time.cancel()


def test_deadlines_hold_about_the_calls_still_waiting() -> None:
    run(_deadlines_hold_about_the_calls_still_waiting)


async def _deadlines_hold_about_the_calls_still_waiting() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines()
    for _ in range(1000):
        future: asyncio.Future[np.ndarray] = loop.create_future()
        deadlines.watch(loop.time() + 60, future)
        future.set_result(rows(1))  # answered long before its deadline
    assert len(deadlines) == 1  # finished calls leave as new ones come, not at their deadline


def test_a_queued_call_past_its_deadline_times_out_and_its_batch_skips_it() -> None:
    run(_a_queued_call_past_its_deadline_times_out_and_its_batch_skips_it)


async def _a_queued_call_past_its_deadline_times_out_and_its_batch_skips_it() -> None:
    model = Recorder()
    batcher = AdaptiveBatcher(model, max_batch_size=8)
    await batcher.start()
    try:
        model.gate.clear()
        first = asyncio.create_task(batcher.predict(rows(1)))
        await until(model.started.is_set)  # the first batch holds the model
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await batcher.predict(rows(2), deadline=loop.time() + 0.05)
        model.gate.set()
        assert (await first).tolist() == [[2.0]]
        assert (await batcher.predict(rows(3))).tolist() == [[6.0]]
        assert model.batches == [1, 1]  # the late call was never run
    finally:
        model.gate.set()
        await batcher.stop()
