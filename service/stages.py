"""Where a request's CPU goes, stage by stage.

Every stage but ``queue`` is CPU time of the thread doing the work (``cpu_clock``): on a saturated core the
event loop's thread is preempted by the inference thread and the other way round, so wall time would count
one stage's work into another's. ``queue`` is the wall time a request waits for its batch. The hot path adds
seconds to plain floats; the event-loop probe publishes them as Prometheus counters
(``cifar10_stage_seconds_total{stage=...}``) every tenth of a second, so ``make bench`` can divide a run's
increase by its requests and report microseconds per request for each stage.

That thread clock is a system call, and with two reads per stage it cost a small request about 8 us (measured
in process, against the same code reading no clock). So the per-request stages are timed on a random sample,
one call in ``CIFAR10_STAGE_TIMING_ONE_IN`` at each place that times one, and the sample's seconds count that
many times over: the sums stay estimates of the whole, without bias, for a sixteenth of the clock reads.
Whole batches (``inference``, ``queue``) are timed every time: they are few, and their clock is needed anyway.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Final, Literal

Stage = Literal["parse", "admission", "decode", "queue", "inference", "answer", "accounting"]
STAGES: Final[tuple[Stage, ...]] = ("parse", "admission", "decode", "queue", "inference", "answer", "accounting")
cpu_clock: Final = time.thread_time  # ~0.3-0.4 us a read here (a system call), against ~0.05 us for perf_counter
UNTIMED: Final = -1.0  # what StageClock.start returns for a call left out of the sample
STAGE_HELP: Final = {
    "parse": "reading the body and parsing multipart",
    "admission": "the image header and the decode budget",
    "decode": "decoding and resizing to 32x32 (in a decode thread for big images)",
    "queue": "waiting for a batch to start (wall time, not CPU)",
    "inference": "onnxruntime runs (whole batches)",
    "answer": "labels, bands and the JSON body",
    "accounting": "metrics, request id and the access log",
}


class StageClock:
    """Seconds per stage since start (written from the event loop; inference and big decodes from their threads)."""

    def __init__(self, one_in: int = 1, chance: Callable[[], float] = random.random) -> None:
        self.seconds: dict[Stage, float] = dict.fromkeys(STAGES, 0.0)
        self.one_in = one_in
        self._probability = 1.0 / one_in
        self._chance = chance

    def add(self, stage: Stage, seconds: float) -> None:
        """Count ``seconds`` more in ``stage`` (a measurement taken every time, not sampled)."""
        self.seconds[stage] += seconds

    def start(self) -> float:
        """The thread's CPU clock, for one call in ``one_in`` picked at random; :data:`UNTIMED` for the others."""
        return cpu_clock() if self._chance() < self._probability else UNTIMED

    def stop(self, stage: Stage, started: float) -> None:
        """End what :meth:`start` began: a sampled call counts ``one_in`` times its seconds in ``stage``."""
        if started != UNTIMED:
            # The clock is read before the total: a thread switch during the read cannot lose another's addition.
            elapsed = (cpu_clock() - started) * self.one_in
            self.seconds[stage] += elapsed
