"""Prometheus metrics in a registry owned by one app instance (so test apps never collide).

With several worker processes, prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
``python -m service`` before it starts them) keeps every worker's values in files, and a scrape of any worker
adds them up: counters and histograms sum, gauges of live workers sum, the model-info gauge takes the max.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from service.stages import STAGES, Stage, StageClock
from service.statistics import InferenceStatistics

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Latency buckets from 100 us: a 32x32 prediction takes well under a millisecond of server time.
_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_PROBE_INTERVAL_S: Final = 0.1


class Metrics:
    """The service's metrics; also the batcher's observer."""

    def __init__(self, *, multiprocess: bool = False, stage_timing_one_in: int = 1) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess
        self._watched: list[tuple[Gauge, Callable[[], float]]] = []
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._prediction_children: dict[tuple[str, str], Counter] = {}
        self.requests = Counter(
            "cifar10_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "cifar10_http_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its response.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "cifar10_http_requests_in_flight",
            "HTTP requests being handled right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.inference_latency = Histogram(
            "cifar10_inference_duration_seconds",
            "Time of one onnxruntime run (one batch).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_images = Histogram(
            "cifar10_batch_size_images", "Images per onnxruntime run.", buckets=_BATCH_BUCKETS, registry=self.registry
        )
        self.batch_requests = Histogram(
            "cifar10_batch_size_requests",
            "Requests coalesced into one onnxruntime run.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "cifar10_batch_queue_depth",
            "Requests waiting for the model.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.queue_wait = Histogram(
            "cifar10_batch_queue_wait_seconds",
            "Time from a request joining the inference queue to its batch starting.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.statistics = InferenceStatistics()  # the same runs, in the V2 statistics extension's terms
        self.stages = StageClock(stage_timing_one_in)
        stage_seconds = Counter(
            "cifar10_stage_seconds",
            "Time spent in each stage of the request path, summed over requests (see service/stages.py).",
            ["stage"],
            registry=self.registry,
        )
        self._stage_counters = {stage: stage_seconds.labels(stage) for stage in STAGES}
        self._stages_published: dict[Stage, float] = dict.fromkeys(STAGES, 0.0)
        self.decode_queue_depth = Gauge(
            "cifar10_decode_queue_depth",
            "Images waiting for a decode worker or being decoded.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.body_memory = Gauge(
            "cifar10_body_memory_bytes",
            "Request-body bytes held in memory right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.event_loop_lag = Histogram(
            "cifar10_event_loop_lag_seconds",
            "How late the event loop woke a timer: time it spent on work that did not yield.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "cifar10_predictions",
            "Images classified, by predicted label and confidence band.",
            ["label", "band"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "cifar10_model_info",
            "The served model (value is always 1).",
            ["name", "version", "precision"],
            registry=self.registry,
            multiprocess_mode="max",
        )

    def observe_batch(self, images: int, requests: int, seconds: float, cpu_seconds: float) -> None:
        """Record one model run (called from the inference thread; prometheus-client is thread-safe)."""
        self.inference_latency.observe(seconds)
        self.batch_images.observe(images)
        self.batch_requests.observe(requests)
        self.statistics.observe_batch(images, seconds)
        self.stages.add("inference", cpu_seconds)

    def observe_queue_wait(self, seconds: float) -> None:
        """Record how long one request waited for its batch to start."""
        self.queue_wait.observe(seconds)
        self.statistics.observe_queue_wait(seconds)
        self.stages.add("queue", seconds)

    def observe_inference(self, ok: bool, seconds: float) -> None:
        """Record one pipeline call (decode, queue, inference, answer), succeeded or failed."""
        self.statistics.observe_request(ok, seconds)

    def watch(
        self,
        *,
        in_flight: Callable[[], float],
        inference_queue: Callable[[], float],
        decode_queue: Callable[[], float],
        body_memory: Callable[[], float],
    ) -> None:
        """Read these levels at each scrape and each probe tick, instead of updating gauges per request."""
        self._watched = [
            (self.in_flight, in_flight),
            (self.queue_depth, inference_queue),
            (self.decode_queue_depth, decode_queue),
            (self.body_memory, body_memory),
        ]

    async def watch_event_loop(self, interval: float = LAG_PROBE_INTERVAL_S) -> None:
        """Sleep ``interval`` over and over, record how late each wake-up came and refresh the watched gauges (so
        other workers' scrapes see them too); runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            self.event_loop_lag.observe(max(0.0, loop.time() - started - interval))
            self._refresh()

    def _refresh(self) -> None:
        for gauge, read in self._watched:
            gauge.set(read())
        for stage, total in self.stages.seconds.items():
            self._stage_counters[stage].inc(total - self._stages_published[stage])
            self._stages_published[stage] = total

    def observe_prediction(self, label: str, band: str) -> None:
        """Count one classified image."""
        child = self._prediction_children.get((label, band))
        if child is None:
            child = self._prediction_children[(label, band)] = self.predictions.labels(label, band)
        child.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished HTTP request (each label set's children are looked up once)."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.request_latency.labels(method, route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The exposition text for ``GET /metrics`` (every worker's values in multiprocess mode)."""
        self._refresh()
        if not self.multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # prometheus-client leaves it untyped
        return generate_latest(merged)
