"""What one running app holds: settings, metrics, and (once loaded) the model, its batcher and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from service.batching import AdaptiveBatcher
from service.errors import NotReadyError
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.runtime import OnnxModel
from service.settings import Settings


@dataclass(slots=True)
class ServiceState:
    """Per-app state, created by ``create_app`` and filled in by the lifespan."""

    settings: Settings
    metrics: Metrics
    index_html: bytes
    version: str
    model: OnnxModel | None = None
    batcher: AdaptiveBatcher | None = None
    pipeline: Pipeline | None = None
    ready: bool = False

    def serving(self) -> Pipeline:
        """The pipeline, or NotReadyError (503) before warm-up finished or once shutdown began."""
        if not self.ready or self.pipeline is None:
            raise NotReadyError("the model is not ready yet" if self.model is None else "the server is not ready")
        return self.pipeline

    def loaded_model(self) -> OnnxModel:
        """The model once loaded (metadata endpoints keep working while draining)."""
        if self.model is None:
            raise NotReadyError("the model is not loaded yet")
        return self.model
