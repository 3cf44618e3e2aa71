"""Per-model inference statistics in the shape of the Open Inference Protocol's statistics extension (Triton's
``GET v2/models/{name}/stats``), which ``tritonclient`` and ``perf_analyzer`` read for server-side latency."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Duration:
    """A count and the total time it took, in nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        """Record ``count`` more events that took ``seconds`` in all."""
        self.count += count
        self.ns += int(seconds * 1e9)

    def as_dict(self) -> dict[str, int]:
        """The protocol's ``{"count", "ns"}``."""
        return {"count": self.count, "ns": self.ns}


@dataclass(slots=True)
class InferenceStatistics:
    """Counts and cumulative durations since start; updated from the event loop and the inference thread."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    inference_count: int = 0  # images
    execution_count: int = 0  # model runs (batches)
    last_inference_ms: int = 0
    by_batch_size: dict[int, Duration] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe_request(self, ok: bool, seconds: float) -> None:
        """One inference request answered (or failed), end to end."""
        with self._lock:
            (self.success if ok else self.fail).add(seconds)
            self.last_inference_ms = int(time.time() * 1000)

    def observe_queue_wait(self, seconds: float) -> None:
        """One request waited ``seconds`` for its batch to start."""
        with self._lock:
            self.queue.add(seconds)

    def observe_batch(self, images: int, seconds: float) -> None:
        """One model run over ``images`` images."""
        with self._lock:
            self.inference_count += images
            self.execution_count += 1
            self.compute_infer.add(seconds)
            self.by_batch_size.setdefault(images, Duration()).add(seconds)

    def document(self, name: str, version: str) -> dict[str, Any]:
        """``GET v2/models/{name}/stats``."""
        zero = Duration().as_dict()
        with self._lock:
            inference_stats = {
                "success": self.success.as_dict(),
                "fail": self.fail.as_dict(),
                "queue": self.queue.as_dict(),
                "compute_input": zero,
                "compute_infer": self.compute_infer.as_dict(),
                "compute_output": zero,
            }
            batch_stats = [
                {"batch_size": size, "compute_input": zero, "compute_infer": run.as_dict(), "compute_output": zero}
                for size, run in sorted(self.by_batch_size.items())
            ]
            model = {
                "name": name,
                "version": version,
                "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count,
                "execution_count": self.execution_count,
                "inference_stats": inference_stats,
                "batch_stats": batch_stats,
            }
        return {"model_stats": [model]}
