"""What one running app holds: settings, metrics, and (once loaded) the model, its batcher and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from service.batching import AdaptiveBatcher
from service.decoding import DecodePool
from service.errors import NotReadyError
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.runtime import OnnxModel
from service.settings import Settings
from service.uploads import BodyBudget

# Where the app hands the server (service.server) the connection counter: in the lifespan state.
CONNECTIONS_KEY: Final = "cifar10.connections"


@dataclass(slots=True)
class ConnectionCount:
    """Open client connections, counted by the server's protocol (0 under servers that do not count)."""

    open: int = 0


@dataclass(slots=True)
class ServiceState:
    """Per-app state, created by ``create_app`` and filled in by the lifespan."""

    settings: Settings
    metrics: Metrics
    body_budget: BodyBudget
    index_html: bytes
    version: str
    model: OnnxModel | None = None
    batcher: AdaptiveBatcher | None = None
    decoders: DecodePool | None = None
    pipeline: Pipeline | None = None
    ready: bool = False  # loaded and warmed up, not shutting down
    in_flight: int = 0  # HTTP requests being handled (kept by the request middleware)
    connections: ConnectionCount = field(default_factory=ConnectionCount)  # kept by service.server
    draining: bool = False  # SIGTERM arrived: still serving, but readiness is red and connections close

    def alone(self) -> bool:
        """One client, one request: nothing else is going on, and (as far as the server knows) nothing will."""
        return self.in_flight == 1 and self.connections.open == 1

    def batch_wait_ms(self) -> float:
        """The batcher's wait for more requests, in ms, as it runs (``auto`` resolved)."""
        if self.batcher is None:
            raise NotReadyError("the model is not loaded yet")
        return self.batcher.max_wait_s * 1000

    def serving(self) -> Pipeline:
        """The pipeline while requests are accepted (draining included); 503 before warm-up and after shutdown."""
        if not self.ready or self.pipeline is None:
            raise NotReadyError("the model is not ready yet" if self.model is None else "the server is not ready")
        return self.pipeline

    def check_ready(self) -> None:
        """503 unless load balancers should send traffic here: ready and not draining."""
        self.serving()
        if self.draining:
            raise NotReadyError("the server is shutting down")

    def begin_draining(self) -> None:
        """Lame duck: readiness turns red and every answer closes its connection; requests are still served."""
        self.draining = True

    def loaded_model(self) -> OnnxModel:
        """The model once loaded (metadata endpoints keep working while draining)."""
        if self.model is None:
            raise NotReadyError("the model is not loaded yet")
        return self.model
