"""Server-side dynamic batching: concurrent requests are coalesced into one model run.

Each request awaits its own future. The worker takes everything already queued (up to the max batch
size); it waits up to the max wait for more only while requests are arriving concurrently (the previous
batch held more than one request), a connected client has no request in the batch (over HTTP/1.1 a
connection carries one request at a time, so once every client's is in, none can join) and a request joined
within ``ARRIVAL_GAP_S``. A lone request on an idle server never pays the wait, nor do a
few clients all in one batch, and idle keep-alive connections hold a batch for the gap, not the whole wait.
Each model run has a cost of its own beyond its images, and the code around a run slows after it, so fewer,
fuller batches cost less CPU per request. While one batch runs in the inference thread, the event loop keeps
accepting requests, which form the next batch.

A worker with a single CPU gains nothing from that thread: the loop and the model cannot run at the same
time, and every batch costs thread wake-ups and GIL hand-offs. There (``inline_batches``) a batch runs on
the event loop's thread when it is expected to be quick (the fastest run so far, for any fixed cost per
call, plus the average seconds per image times its images); a slow model still runs in the thread. After
each such batch the loop gets a turn (answers go out, new requests come in, deadlines fire) before the next.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from service.errors import InferenceFailedError, OverloadedError, ShuttingDownError
from service.logs import current_request_id
from service.stages import cpu_clock

logger = logging.getLogger(__name__)

PredictFunction = Callable[[np.ndarray], np.ndarray]
INLINE_MAX_IMAGES = 4  # a lone request this small runs on the event loop's thread (see AdaptiveBatcher._alone)
INLINE_MAX_SECONDS = 0.0005  # ...if such runs are known to take less than this (a slow model never blocks the loop)
INLINE_BATCH_MAX_SECONDS = 0.01  # with inline_batches, the longest a batch may be expected to hold the event loop
# A batch waiting for more (max_wait_s) stops when no request joined it for this long (and two more passes of
# the loop brought none): clients that got their answer send the next request within it, while idle keep-alive
# connections (a proxy's pool, or an attacker's) would otherwise hold every batch for the whole wait. Under
# uvloop (timers in whole milliseconds) the gap is the next pass of the loop.
ARRIVAL_GAP_S = 0.0002


class BatchObserver(Protocol):
    """Receives batching measurements (implemented by the metrics)."""

    def observe_batch(self, images: int, requests: int, seconds: float, cpu_seconds: float) -> None:
        """Record one model run: its wall time, and the CPU time of the thread that ran it."""

    def observe_queue_wait(self, seconds: float) -> None:
        """Record how long one request waited for its batch to start."""


class _NullObserver:
    def observe_batch(self, images: int, requests: int, seconds: float, cpu_seconds: float) -> None:
        pass

    def observe_queue_wait(self, seconds: float) -> None:
        pass


@dataclass(slots=True)
class _Pending:
    images: np.ndarray
    future: asyncio.Future[np.ndarray] = field(repr=False)
    request_id: str | None = None  # the worker task runs outside the request's context: keep it for the logs
    enqueued: float = field(default_factory=time.perf_counter)


class Deadlines:
    """Fail each watched future with TimeoutError at its deadline, with one timer for all of them.

    A timer per request (``asyncio.timeout_at``) costs a timer handle, its scheduling and its cancellation on
    every call, ~4 % of a request's CPU; here a request costs a heap push. The heap is ordered by deadline;
    futures that finished are dropped from its head as new ones come, so it holds about the requests waiting.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, asyncio.Future[np.ndarray]]] = []
        self._order = itertools.count()  # ties: first come, first expired (futures do not compare)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def watch(self, deadline: float, future: asyncio.Future[np.ndarray]) -> None:
        """Fail ``future`` with TimeoutError at ``deadline`` (event-loop time) unless it is done by then."""
        heap = self._heap
        while heap and heap[0][2].done():
            heapq.heappop(heap)
        heapq.heappush(heap, (deadline, next(self._order), future))
        if deadline < self._timer_at:
            self._arm(deadline)

    def __len__(self) -> int:
        return len(self._heap)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)
        self._timer_at = deadline

    def _expire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        heap = self._heap
        now = asyncio.get_running_loop().time()
        while heap and (heap[0][0] <= now or heap[0][2].done()):
            _, _, future = heapq.heappop(heap)
            if not future.done():
                future.set_exception(TimeoutError())
        if heap:
            self._arm(heap[0][0])


class AdaptiveBatcher:
    """Coalesce ``predict`` calls into batches of at most ``max_batch_size`` images (or call straight through)."""

    def __init__(
        self,
        predict: PredictFunction,
        *,
        enabled: bool = True,
        max_batch_size: int = 32,
        max_wait_s: float = 0.0,  # 0: batch what queued, never wait (see pipeline.batch_wait_s for the service's)
        max_queue: int = 1024,
        observer: BatchObserver | None = None,
        alone: Callable[[], bool] | None = None,
        clients: Callable[[], int | None] | None = None,
        inline_batches: bool = False,
    ) -> None:
        self._predict = predict
        # Whether the request being served is the server's only client right now: then it runs on the event
        # loop's thread (it has nothing to be batched with, and the hand-off would cost more than the run).
        self._only_client = alone
        # Open client connections (HTTP/1.1: at most one request each at a time): while more are connected than
        # have a request in the batch being collected, a batch waiting for more (max_wait_s) may get one. (No
        # batch runs meanwhile: the worker collects a batch only after the previous one finished.)
        self._clients = clients
        self.enabled = enabled
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._observer: BatchObserver = observer or _NullObserver()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._deadlines = Deadlines()
        self._carry: _Pending | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._direct_calls: set[asyncio.Future[np.ndarray]] = set()
        self._closing = False
        self._last_batch_requests = 0
        self._running = 0  # batches running (in the inference thread, or on the loop for an inline batch)
        self.inline_batches = inline_batches
        self._image_s: float | None = None  # moving average of a run's seconds per image
        self._fastest_run_s: float | None = None  # no run is faster than the model's fixed cost per call

    async def start(self) -> None:
        """Start the worker thread (and the batching task when enabled)."""
        # One thread: onnxruntime parallelises inside a run; two concurrent runs would only fight for cores.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._closing = False
        if self.enabled:
            self._queue = asyncio.Queue(maxsize=self.max_queue)
            self._worker = asyncio.create_task(self._run(), name="adaptive-batcher")

    @property
    def queue_depth(self) -> int:
        """Requests waiting for the model (not counting the batch being run)."""
        if self._queue is None:
            return len(self._direct_calls)
        return self._queue.qsize() + (1 if self._carry is not None else 0)

    async def predict(self, images: np.ndarray, deadline: float | None = None) -> np.ndarray:
        """Return the model's output for ``images`` (N, ...) once its batch has run.

        A call that has to wait gives up with TimeoutError at ``deadline`` (event-loop time), if one is given.
        """
        if self._closing or self._executor is None:
            raise ShuttingDownError("the server is shutting down")
        if self._queue is None:
            async with asyncio.timeout_at(deadline):
                return await self._predict_directly(images)
        if self._alone(images):
            return self._predict_inline(images)
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(images, future, current_request_id.get()))
        except asyncio.QueueFull:
            raise OverloadedError(
                f"the inference queue is full ({self.max_queue} requests, CIFAR10_MAX_QUEUE); retry later",
                headers={"Retry-After": "1"},
            ) from None
        if deadline is not None:
            self._deadlines.watch(deadline, future)
        return await future

    def _alone(self, images: np.ndarray) -> bool:
        """Nothing to batch with: no other request in the server, nothing queued or running, a small input."""
        if self._only_client is None or len(images) > INLINE_MAX_IMAGES or not self._only_client():
            return False
        if not self._quick(len(images), INLINE_MAX_SECONDS):
            return False
        assert self._queue is not None
        return self._running == 0 and self._queue.empty() and self._carry is None

    def _predict_inline(self, images: np.ndarray) -> np.ndarray:
        # A lone small request costs the model ~60-90 us on this thread, less than the hand-off to another one.
        try:
            return self._timed_predict(images, 1)
        except Exception as exc:
            logger.exception("inference failed")
            raise InferenceFailedError(f"model inference failed: {type(exc).__name__}") from None

    async def stop(self) -> None:
        """Refuse new work, let queued and running requests finish, then stop the worker."""
        self._closing = True
        if self._queue is not None:
            await self._queue.join()
        if self._direct_calls:
            await asyncio.gather(*self._direct_calls, return_exceptions=True)
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def _predict_directly(self, images: np.ndarray) -> np.ndarray:
        if len(self._direct_calls) >= self.max_queue:
            raise OverloadedError(
                f"too many requests in flight ({self.max_queue}, CIFAR10_MAX_QUEUE); retry later",
                headers={"Retry-After": "1"},
            )
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._timed_predict, images, 1)
        self._direct_calls.add(future)
        try:
            return await future
        except Exception as exc:
            logger.exception("inference failed")
            raise InferenceFailedError(f"model inference failed: {type(exc).__name__}") from None
        finally:
            self._direct_calls.discard(future)

    def _timed_predict(self, images: np.ndarray, requests: int) -> np.ndarray:
        started, cpu_started = time.perf_counter(), cpu_clock()
        output = self._predict(images)
        seconds = time.perf_counter() - started
        self._observer.observe_batch(len(images), requests, seconds, cpu_clock() - cpu_started)
        per_image = seconds / max(len(images), 1)
        self._image_s = per_image if self._image_s is None else 0.8 * self._image_s + 0.2 * per_image
        self._fastest_run_s = seconds if self._fastest_run_s is None else min(self._fastest_run_s, seconds)
        return output

    def _quick(self, images: int, within_s: float) -> bool:
        """A run of ``images`` is expected to take at most ``within_s``: a bound on the fixed cost per call (no run
        was faster than it) plus the average cost per image (which includes a share of it). Unknown: not quick."""
        if self._image_s is None or self._fastest_run_s is None:
            return False
        return self._fastest_run_s + self._image_s * images <= within_s

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = await self._collect()
            try:
                await self._run_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if self.inline_batches:
                await asyncio.sleep(0)  # the loop's turn: a queue of inline batches must not run back to back

    async def _collect(self) -> list[_Pending]:
        """Take the next batch: the carried-over request or the next queued one, then whatever fits."""
        assert self._queue is not None
        first = self._carry if self._carry is not None else await self._queue.get()
        self._carry = None
        batch = [first]
        size = len(first.images)
        deadline = asyncio.get_running_loop().time() + self.max_wait_s  # loop time is monotonic
        wait = self.max_wait_s > 0 and self._last_batch_requests > 1
        while size < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                if not wait or not self._more_may_come(len(batch)):
                    break
                arrived = await self._arrival(deadline)
                if arrived is None:
                    break
                item = arrived
            if size + len(item.images) > self.max_batch_size:
                self._carry = item  # does not fit: it opens the next batch
                break
            batch.append(item)
            size += len(item.images)
        self._last_batch_requests = len(batch)
        return batch

    async def _arrival(self, deadline: float) -> _Pending | None:
        """The next request to join a waiting batch; None once ``deadline`` (loop time) passed, or when none came
        within the gap and the two loop passes after it."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            return None
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + ARRIVAL_GAP_S)):
                return await self._queue.get()
        except TimeoutError:
            if loop.time() >= deadline:
                return None
        # The gap ended, but timers fire before the loop reads its sockets: after a busy turn, requests may be
        # waiting there. Two passes of the loop read them and run their tasks to the queue (a small request's whole
        # way there is one step). uvloop keeps timers in whole milliseconds, so there the gap itself is the next
        # pass and these passes are what the wait lasts.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return None if self._queue.empty() else self._queue.get_nowait()

    def _more_may_come(self, requests: int) -> bool:
        """Whether a client connection has no request in this batch (it may send one soon), or the connections are
        not counted."""
        clients = None if self._clients is None else self._clients()
        return clients is None or clients > requests

    async def _run_batch(self, batch: list[_Pending]) -> None:
        live = [item for item in batch if not item.future.done()]  # drop requests whose client went away
        if not live:
            return
        started = time.perf_counter()
        for item in live:
            self._observer.observe_queue_wait(started - item.enqueued)
        images = live[0].images if len(live) == 1 else np.concatenate([item.images for item in live])
        assert self._executor is not None
        self._running += 1
        try:
            if self.inline_batches and self._quick(len(images), INLINE_BATCH_MAX_SECONDS):
                output = self._timed_predict(images, len(live))
            else:
                output = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._timed_predict, images, len(live)
                )
            if len(output) != len(images):
                raise ValueError(f"the model returned {len(output)} rows for {len(images)} images")
        except Exception as exc:
            logger.exception(
                "inference failed for a batch of %d requests",
                len(live),
                extra={"request_ids": [item.request_id for item in live]},
            )
            for item in live:
                if not item.future.done():
                    item.future.set_exception(InferenceFailedError(f"model inference failed: {type(exc).__name__}"))
            return
        finally:
            self._running -= 1
        start = 0
        for item in live:
            end = start + len(item.images)
            if not item.future.done():
                item.future.set_result(output[start:end])
            start = end
