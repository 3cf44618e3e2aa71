"""The service's configuration: one frozen dataclass, read from ``CIFAR10_*`` environment variables in one place."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

ENV_PREFIX = "CIFAR10_"

ResizeMode = Literal["squash", "crop"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
GraphOptimization = Literal["disabled", "basic", "extended", "all"]

# File names of the two committed models inside CIFAR10_MODELS_DIR.
MODEL_FILES: Mapping[str, str] = {"fp32": "cifar10_cnn.onnx", "int8": "cifar10_cnn.int8.onnx"}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable and the value."""


def env_name(field_name: str) -> str:
    """Return the environment variable that sets ``field_name``."""
    return ENV_PREFIX + field_name.upper()


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service, the CLI and the offline command can be configured with."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    model: str = "fp32"  # "fp32", "int8" or a path to an .onnx file
    models_dir: Path = Path("models")
    model_sha256: str | None = None  # refuse to serve a model file with another digest
    verify_manifest: bool = True  # refuse a model whose digest differs from manifest.json beside it
    # One intra-op thread measured fastest for this ~1 MFLOP CNN on a 2-core box: batch 1 took 0.08 ms
    # with 1 thread vs 0.11-0.14 ms with 2 (thread hand-off costs more than the tiny GEMMs gain), and
    # batch 32 took 1.6 ms vs 2.1-3.5 ms. Spinning burns a core between requests for no measurable gain.
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    allow_spinning: bool = False
    memory_arena: bool = True
    graph_optimization: GraphOptimization = "all"
    batching: bool = True
    max_batch_size: int = 32
    # 0 = opportunistic batching: a batch is whatever queued while the previous one ran. Measured with hey
    # (server on one core, raw JPEG body): waiting 2 ms cost 60 % of the throughput at 8 clients
    # (1,735 vs 4,334 req/s) and was still 8 % slower at 32 (4,288 vs 4,635). Raise it for models whose
    # per-call cost dwarfs the wait.
    max_batch_wait_ms: float = 0.0
    max_queue: int = 1024
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_batch_images: int = 64
    high_confidence: float = 0.80
    low_confidence: float = 0.50
    reject_below: float | None = None
    resize: ResizeMode = "squash"
    log_level: LogLevel = "info"
    access_log: bool = True
    cors_origins: tuple[str, ...] = ()
    shutdown_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        _check_range("port", self.port, 0, 65535)
        _check_range("workers", self.workers, 1, 64)
        _check_range("intra_op_threads", self.intra_op_threads, 0, 256)
        _check_range("inter_op_threads", self.inter_op_threads, 0, 256)
        _check_range("max_batch_size", self.max_batch_size, 1, 4096)
        _check_range("max_batch_wait_ms", self.max_batch_wait_ms, 0.0, 10_000.0)
        _check_range("max_queue", self.max_queue, 1, 10_000_000)
        _check_range("max_upload_bytes", self.max_upload_bytes, 1, 2**40)
        _check_range("max_image_pixels", self.max_image_pixels, 32 * 32, 2**40)
        _check_range("max_batch_images", self.max_batch_images, 1, 100_000)
        _check_range("high_confidence", self.high_confidence, 0.0, 1.0)
        _check_range("low_confidence", self.low_confidence, 0.0, 1.0)
        _check_range("shutdown_timeout_s", self.shutdown_timeout_s, 0.0, 3600.0)
        if self.reject_below is not None:
            _check_range("reject_below", self.reject_below, 0.0, 1.0)
        if self.low_confidence > self.high_confidence:
            raise SettingsError(
                f"{env_name('low_confidence')} ({self.low_confidence}) must not exceed "
                f"{env_name('high_confidence')} ({self.high_confidence})"
            )
        if self.model_sha256 is not None:
            if not _is_sha256(self.model_sha256):
                raise SettingsError(f"{env_name('model_sha256')} must be 64 hex digits, got {self.model_sha256!r}")
            object.__setattr__(self, "model_sha256", self.model_sha256.lower())  # hashlib's hexdigest is lowercase
        _check_choice("resize", self.resize, ResizeMode)
        _check_choice("log_level", self.log_level, LogLevel)
        _check_choice("graph_optimization", self.graph_optimization, GraphOptimization)
        if not self.host:
            raise SettingsError(f"{env_name('host')} must not be empty")
        if not self.model:
            raise SettingsError(f"{env_name('model')} must be 'fp32', 'int8' or a path to an .onnx file, got ''")

    @property
    def model_path(self) -> Path:
        """The ONNX file to serve: a named committed model from ``models_dir`` or the given path."""
        named = MODEL_FILES.get(self.model)
        return self.models_dir / named if named is not None else Path(self.model)

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with the given fields replaced (``None`` values are ignored), validated again."""
        return dataclasses.replace(self, **{key: value for key, value in changes.items() if value is not None})

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``CIFAR10_*`` variables in ``environ``; unset variables keep their defaults."""
        parsers: dict[str, Callable[[str], Any]] = {
            "host": str,
            "port": int,
            "workers": int,
            "model": str,
            "models_dir": Path,
            "model_sha256": _parse_optional_sha256,
            "verify_manifest": _parse_bool,
            "intra_op_threads": int,
            "inter_op_threads": int,
            "allow_spinning": _parse_bool,
            "memory_arena": _parse_bool,
            "graph_optimization": str.lower,
            "batching": _parse_bool,
            "max_batch_size": int,
            "max_batch_wait_ms": _parse_float,
            "max_queue": int,
            "max_upload_bytes": int,
            "max_image_pixels": int,
            "max_batch_images": int,
            "high_confidence": _parse_float,
            "low_confidence": _parse_float,
            "reject_below": _parse_optional_float,
            "resize": str.lower,
            "log_level": str.lower,
            "access_log": _parse_bool,
            "cors_origins": _parse_list,
            "shutdown_timeout_s": _parse_float,
        }
        values: dict[str, Any] = {}
        for name, parse in parsers.items():
            raw = environ.get(env_name(name))
            if raw is None:
                continue
            try:
                values[name] = parse(raw.strip())
            except ValueError:
                raise SettingsError(f"{env_name(name)} has an invalid value {raw!r}: {_describe(parse)}") from None
        return cls(**values)


def _describe(parse: Callable[[str], Any]) -> str:
    if parse is int:
        return "expected an integer"
    if parse in (_parse_float, _parse_optional_float):
        return "expected a number"
    if parse is _parse_bool:
        return "expected true or false"
    return "not understood"


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(raw)


def _parse_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _parse_optional_float(raw: str) -> float | None:
    return None if raw == "" or raw.lower() in {"none", "off"} else _parse_float(raw)


def _parse_optional_sha256(raw: str) -> str | None:
    return raw or None


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SettingsError(f"{env_name(name)} must be between {low} and {high}, got {value!r}")


def _check_choice(name: str, value: str, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise SettingsError(f"{env_name(name)} must be one of {', '.join(allowed)}, got {value!r}")
