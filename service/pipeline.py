"""The request lifecycle, written once: admission → decode → batch → predict → answer.

``/predict``, ``/predict/batch``, the V2 endpoint and the offline command all call a :class:`Pipeline`; each
only translates its own wire format (multipart, raw body, V2 tensors, files) into that call and back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from service.admission import DecodeLimits, ImagePlan, admit_image
from service.decoding import DecodePool, available_cpus
from service.errors import DeadlineExceededError, ImageTooLargeError, ModelLoadError, ServiceError
from service.predictions import Thresholds, describe_prediction
from service.preprocessing import decode
from service.runtime import OnnxModel, SessionConfig
from service.settings import MODEL_FILES, ResizeMode, Settings
from service.stages import StageClock

# The model behind a pipeline: images and the deadline (event-loop time) by which a waiting call gives up.
Predict = Callable[[np.ndarray, float | None], Awaitable[np.ndarray]]
Answer = dict[str, Any]
HEAVY_DECODE_BYTES = 8 * 1024 * 1024  # a decode this big hands its freed memory back to the system afterwards


@dataclass(frozen=True, slots=True)
class Upload:
    """One image as the client sent it: its bytes and the name it gave them (if any)."""

    data: bytes
    filename: str | None = None


class PredictionObserver(Protocol):
    """Receives each answer (implemented by the metrics)."""

    def observe_prediction(self, label: str, band: str) -> None:
        """Count one classified image."""

    def observe_inference(self, ok: bool, seconds: float) -> None:
        """Record one pipeline call, succeeded or failed."""


class Pipeline:
    """Classify images and run tensors through the model, the same way for every entry point."""

    def __init__(
        self,
        predict: Predict,
        *,
        labels: Sequence[str],
        limits: DecodeLimits,
        decoders: DecodePool | None = None,
        resize: ResizeMode = "squash",
        thresholds: Thresholds | None = None,
        timeout_s: float | None = None,
        observer: PredictionObserver | None = None,
        stages: StageClock | None = None,
    ) -> None:
        self._predict = predict
        self.labels = tuple(labels)
        self.limits = limits
        self._decoders = decoders
        self.resize = resize
        self.thresholds = thresholds or Thresholds()
        self.timeout_s = timeout_s
        self._observer = observer
        self._stages = stages or StageClock()

    async def classify(self, uploads: Sequence[Upload], *, top_k: int | None = None) -> list[Answer | ServiceError]:
        """One answer per upload, in order: the prediction, or the error that image alone ran into."""
        started = time.perf_counter()
        ok = False
        try:
            answers = await self._classify(uploads, top_k, self._deadline())
            ok = True
            return answers
        except TimeoutError:
            raise self._late() from None
        finally:
            self._observe(ok, started)

    async def infer(self, images: np.ndarray) -> np.ndarray:
        """Run already decoded uint8 tensors (N, 32, 32, 3) through the model: the V2 path, no decoding."""
        started = time.perf_counter()
        ok = False
        try:
            probabilities = await self._predict(images, self._deadline())
            ok = True
            return probabilities
        except TimeoutError:
            raise self._late() from None
        finally:
            self._observe(ok, started)

    def _deadline(self) -> float | None:
        # Only the steps that wait (a decode thread, a batch) arm a timer: work done in place is bounded by the
        # admission budgets instead, and a request served without waiting costs no timer at all.
        return None if self.timeout_s is None else asyncio.get_running_loop().time() + self.timeout_s

    def _late(self) -> DeadlineExceededError:
        return DeadlineExceededError(f"the request took longer than {self.timeout_s:g} s (CIFAR10_REQUEST_TIMEOUT_S)")

    def _observe(self, ok: bool, started: float) -> None:
        if self._observer is not None:
            self._observer.observe_inference(ok, time.perf_counter() - started)

    async def _classify(
        self, uploads: Sequence[Upload], top_k: int | None, deadline: float | None
    ) -> list[Answer | ServiceError]:
        outcomes: list[Answer | ServiceError] = []
        images: list[np.ndarray] = []
        stages = self._stages
        committed = 0  # decode work the request's earlier images took
        for upload in uploads:
            try:
                started = stages.start()
                plan = admit_image(upload.data, self.limits)
                committed += plan.cost.work_bytes
                stages.stop("admission", started)
                if committed > self.limits.max_request_decode_bytes:
                    raise ImageTooLargeError(
                        f"decoding this image too would take the request past {self.limits.max_request_decode_bytes} "
                        "bytes of decode work (CIFAR10_MAX_REQUEST_DECODE_BYTES)"
                    )
                images.append(await self._decode(plan, deadline))
            except ServiceError as exc:
                outcomes.append(exc)
            else:
                outcomes.append({})  # filled in from the model's rows below
        if not images:
            return outcomes
        batch = images[0][np.newaxis] if len(images) == 1 else np.stack(images)
        rows = iter(await self._predict(batch, deadline))
        started = stages.start()
        for position, outcome in enumerate(outcomes):
            if not isinstance(outcome, ServiceError):
                outcomes[position] = self._answer(next(rows), top_k, uploads[position].filename)
        stages.stop("answer", started)
        return outcomes

    async def _decode(self, plan: ImagePlan, deadline: float | None) -> np.ndarray:
        if plan.inline or self._decoders is None:
            return self._timed_decode(plan)
        try:
            async with asyncio.timeout_at(deadline):
                heavy = plan.cost.work_bytes > HEAVY_DECODE_BYTES
                return await self._decoders.run(self._timed_decode, plan, heavy=heavy)
        except asyncio.CancelledError:
            plan.stop()  # out of time: the worker gives up at its next read instead of finishing for nobody
            raise

    def _timed_decode(self, plan: ImagePlan) -> np.ndarray:
        started = self._stages.start()
        try:
            return decode(plan, resize=self.resize)
        finally:
            self._stages.stop("decode", started)

    def _answer(self, probabilities: np.ndarray, top_k: int | None, filename: str | None) -> Answer:
        answer = describe_prediction(probabilities, self.labels, self.thresholds, top_k)
        if filename is not None:
            answer["filename"] = filename
        if self._observer is not None:
            self._observer.observe_prediction(answer["label"], answer["band"])
        return answer


def session_config(settings: Settings) -> SessionConfig:
    """The onnxruntime session options the settings choose."""
    return SessionConfig(
        intra_op_threads=settings.intra_op_threads,
        inter_op_threads=settings.inter_op_threads,
        allow_spinning=settings.allow_spinning,
        memory_arena=settings.memory_arena,
        graph_optimization=settings.graph_optimization,
    )


def load_model(settings: Settings) -> OnnxModel:
    """Load and check the model the settings choose, with the session options they choose."""
    path = settings.model_path
    if not path.exists():
        named = settings.model in MODEL_FILES
        where = f"looked for {path} in the models folder {settings.models_dir}" if named else f"{path} does not exist"
        raise ModelLoadError(
            f"no model file: {where}; CIFAR10_MODEL (or --model) takes "
            f"{', '.join(MODEL_FILES)} or a path to an .onnx file, CIFAR10_MODELS_DIR sets the folder"
        )
    return OnnxModel.load(
        settings.model_path,
        session_config(settings),
        expected_sha256=settings.model_sha256,
        verify_manifest=settings.verify_manifest,
    )


def warm_up_sizes(settings: Settings) -> list[int]:
    """The batch sizes to warm up: a lone request and the largest batch the batcher forms."""
    return sorted({1, settings.max_batch_size})


def batches_on_loop(settings: Settings, cpus: Callable[[], int] = available_cpus) -> bool:
    """Whether batches run on the event loop's thread: asked for, or ``auto`` and a worker has under two CPUs."""
    if settings.inference_thread != "auto":
        return settings.inference_thread == "never"
    return cpus() < 2 * settings.workers


AUTO_BATCH_WAIT_S = 0.002  # CIFAR10_MAX_BATCH_WAIT_MS=auto where batches run on the event loop


def batch_wait_s(settings: Settings, on_loop: bool) -> float:
    """The longest a batch waits for more requests: none with batching off; the setting, or for ``auto`` 2 ms where
    batches run on the event loop (fewer, fuller runs cost less CPU per request) and none where they run in the
    inference thread (it would idle while the loop works)."""
    if not settings.batching:
        return 0.0
    if settings.max_batch_wait_ms == "auto":
        return AUTO_BATCH_WAIT_S if on_loop else 0.0
    return settings.max_batch_wait_ms / 1000


def thresholds(settings: Settings) -> Thresholds:
    """The confidence bands and rejection threshold the settings choose."""
    return Thresholds(high=settings.high_confidence, low=settings.low_confidence, reject_below=settings.reject_below)


def decode_limits(settings: Settings) -> DecodeLimits:
    """What one image may cost to decode, as the settings say."""
    return DecodeLimits(
        max_pixels=settings.max_image_pixels,
        max_decode_bytes=settings.max_decode_bytes,
        max_jpeg_scans=settings.max_jpeg_scans,
        max_image_tags=settings.max_image_tags,
        max_request_decode_bytes=settings.max_request_decode_bytes,
    )


def build_pipeline(
    settings: Settings,
    predict: Predict,
    labels: Sequence[str],
    *,
    decoders: DecodePool | None = None,
    observer: PredictionObserver | None = None,
    stages: StageClock | None = None,
) -> Pipeline:
    """A pipeline with the limits, resizing, thresholds and deadline the settings choose."""
    return Pipeline(
        predict,
        labels=labels,
        limits=decode_limits(settings),
        decoders=decoders,
        resize=settings.resize,
        thresholds=thresholds(settings),
        timeout_s=settings.request_timeout_s,
        observer=observer,
        stages=stages,
    )
