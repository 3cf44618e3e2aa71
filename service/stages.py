"""Where a request's CPU goes, stage by stage, at the cost of two clock reads and a float addition per stage.

Every stage but ``queue`` is CPU time of the thread doing the work (``cpu_clock``): on a saturated core the
event loop's thread is preempted by the inference thread and the other way round, so wall time would count
one stage's work into another's. ``queue`` is the wall time a request waits for its batch. The hot path adds
seconds to plain floats; the event-loop probe publishes them as Prometheus counters
(``cifar10_stage_seconds_total{stage=...}``) every tenth of a second, so ``make bench`` can divide a run's
increase by its requests and report microseconds per request for each stage.
"""

from __future__ import annotations

import time
from typing import Final, Literal

Stage = Literal["parse", "admission", "decode", "queue", "inference", "answer", "accounting"]
STAGES: Final[tuple[Stage, ...]] = ("parse", "admission", "decode", "queue", "inference", "answer", "accounting")
cpu_clock: Final = time.thread_time  # ~0.4 us a read here (a system call), against ~0.1 us for perf_counter
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

    def __init__(self) -> None:
        self.seconds: dict[Stage, float] = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: Stage, seconds: float) -> None:
        """Count ``seconds`` more in ``stage``."""
        self.seconds[stage] += seconds
