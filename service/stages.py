"""Where a request's time goes, stage by stage, at a cost of a float addition per stage.

The hot path adds seconds to plain floats; the event-loop probe publishes them as Prometheus counters
(``cifar10_stage_seconds_total{stage=...}``) every tenth of a second, so ``make bench`` can divide a run's
increase by its requests and report microseconds per request for each stage.
"""

from __future__ import annotations

from typing import Final, Literal

Stage = Literal["parse", "admission", "decode", "queue", "inference", "answer", "accounting"]
STAGES: Final[tuple[Stage, ...]] = ("parse", "admission", "decode", "queue", "inference", "answer", "accounting")
STAGE_HELP: Final = {
    "parse": "reading the body and parsing multipart",
    "admission": "the image header and the decode budget",
    "decode": "decoding and resizing to 32x32 (in a decode thread for big images)",
    "queue": "waiting for a batch to start",
    "inference": "onnxruntime runs (whole batches)",
    "answer": "labels, bands and the JSON body",
    "accounting": "metrics, request id and the access log",
}


class StageClock:
    """Seconds per stage since start (written from the event loop; inference from the inference thread)."""

    def __init__(self) -> None:
        self.seconds: dict[Stage, float] = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: Stage, seconds: float) -> None:
        """Count ``seconds`` more in ``stage``."""
        self.seconds[stage] += seconds
