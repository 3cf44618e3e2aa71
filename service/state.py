"""What one running app holds: settings, metrics, and (once loaded) the model and its batcher."""

from __future__ import annotations

from dataclasses import dataclass

from service.batching import AdaptiveBatcher
from service.errors import NotReadyError
from service.metrics import Metrics
from service.predictions import Thresholds
from service.runtime import OnnxModel
from service.settings import Settings


@dataclass(slots=True)
class ServiceState:
    """Per-app state, created by ``create_app`` and filled in by the lifespan."""

    settings: Settings
    metrics: Metrics
    thresholds: Thresholds
    index_html: bytes
    version: str
    model: OnnxModel | None = None
    batcher: AdaptiveBatcher | None = None
    ready: bool = False

    def serving(self) -> tuple[OnnxModel, AdaptiveBatcher]:
        """The model and batcher, or NotReadyError (503) before warm-up finished or once shutdown began."""
        if not self.ready or self.model is None or self.batcher is None:
            raise NotReadyError("the model is not ready yet" if self.model is None else "the server is not ready")
        return self.model, self.batcher

    def loaded_model(self) -> OnnxModel:
        """The model once loaded (metadata endpoints keep working while draining)."""
        if self.model is None:
            raise NotReadyError("the model is not loaded yet")
        return self.model
