"""The service's configuration: one frozen dataclass, read from ``CIFAR10_*`` environment variables in one place.

Each setting is declared once, as a field: its environment variable is the prefix plus the field name in upper
case, its parser follows from the field's type, and its bounds sit in the field's metadata.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, Union, get_args, get_origin, get_type_hints

ENV_PREFIX: Final = "CIFAR10_"

ResizeMode = Literal["squash", "crop"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
GraphOptimization = Literal["disabled", "basic", "extended", "all"]
InferenceThread = Literal["auto", "always", "never"]

# File names of the two committed models inside CIFAR10_MODELS_DIR.
MODEL_FILES: Final[Mapping[str, str]] = {"fp32": "cifar10_cnn.onnx", "int8": "cifar10_cnn.int8.onnx"}
# The project's own models folder: found from this file, so the commands work from any working directory.
PROJECT_MODELS_DIR: Final = Path(__file__).resolve().parents[1] / "models"

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_NONE: Final = frozenset({"", "none", "off"})


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable and the value."""


def env_name(field_name: str) -> str:
    """Return the environment variable that sets ``field_name``."""
    return ENV_PREFIX + field_name.upper()


def setting(default: Any, *, low: float | None = None, high: float | None = None) -> Any:
    """A settings field with its default and, for numbers, the inclusive range a value must lie in."""
    return dataclasses.field(default=default, metadata={"range": (low, high)})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service, the CLI and the offline command can be configured with."""

    host: str = "127.0.0.1"
    port: int = setting(8000, low=0, high=65535)
    workers: int = setting(1, low=1, high=64)
    model: str = "fp32"  # "fp32", "int8" or a path to an .onnx file
    models_dir: Path = PROJECT_MODELS_DIR
    model_sha256: str | None = None  # refuse to serve a model file with another digest
    verify_manifest: bool = True  # refuse a model whose digest differs from manifest.json beside it
    # One intra-op thread measured fastest for this ~1 MFLOP CNN on a 2-core box: batch 1 took 0.08 ms
    # with 1 thread vs 0.11-0.14 ms with 2 (thread hand-off costs more than the tiny GEMMs gain), and
    # batch 32 took 1.6 ms vs 2.1-3.5 ms. Spinning burns a core between requests for no measurable gain.
    intra_op_threads: int = setting(1, low=0, high=256)
    inter_op_threads: int = setting(1, low=0, high=256)
    allow_spinning: bool = False
    memory_arena: bool = True
    graph_optimization: GraphOptimization = "all"
    batching: bool = True
    max_batch_size: int = setting(32, low=1, high=4096)
    # How long a batch may wait for more requests (ms), while a connected client has none in it (HTTP/1.1: one
    # request per connection at a time, so once every client's request is in, it runs at once), the previous batch
    # held more than one, and a request joined within the last 0.2 ms (batching.ARRIVAL_GAP_S). "auto": 2 ms where
    # batches run on the event loop, none where they run in the inference thread; 0: a batch is whatever queued
    # while the previous one ran. Measured with wrk against the same server without a wait, paired rounds, raw
    # JPEG, on one CPU: batches of 32 images instead of 11.4 at 32 clients and 8 instead of 3.75 at 8; 1.35x the
    # requests/s at 8 clients, 0.92-1.08x at 32 (over three sets of rounds); with 100 idle keep-alive connections
    # beside 8 clients, the same requests/s as no wait (0.6x when the gap was the whole 2 ms). On two CPUs
    # (batches in the inference thread) a 2 ms wait gave 0.89x and 0.90x: the thread idles while the loop works.
    max_batch_wait_ms: float | Literal["auto"] = setting("auto", low=0.0, high=10_000.0)
    # Where batches run: "always" in the inference thread, "never" on the event loop's thread (while they are
    # quick), "auto" on the loop when a worker has less than two CPUs. With one CPU the thread cannot run beside
    # the loop; it only adds wake-ups and GIL hand-offs (measured in benchmarks/RESULTS.md).
    inference_thread: InferenceThread = "auto"
    max_queue: int = setting(1024, low=1, high=10_000_000)
    max_upload_bytes: int = setting(10 * 1024 * 1024, low=1, high=2**40)  # /predict, V2
    max_batch_upload_bytes: int = setting(16 * 1024 * 1024, low=1, high=2**40)  # /predict/batch: three 4.7 MB photos
    # Request bodies held in memory at once, over all requests; past it new uploads get 503. With the decode
    # budget below this is what keeps the worst case inside the pod's memory limit (deploy/kubernetes).
    max_body_memory_bytes: int = setting(64 * 1024 * 1024, low=1024, high=2**40)
    # Pixel count alone does not decide the cost (a baseline JPEG decodes at 1/8 scale); the decode budget does.
    max_image_pixels: int = setting(40_000_000, low=32 * 32, high=2**40)
    # Estimated memory to decode one image (pixel buffers, JPEG coefficient buffers, conversion copies),
    # decided from its header before any pixel is decoded. 48 MiB admits a 9-megapixel RGB PNG, a
    # 14-megapixel progressive JPEG, a 2.5-megapixel WebP or a 15-megapixel 16-bit PNG; a baseline JPEG
    # decodes at 1/8 scale, so any photo the pixel limit admits costs under 10 MiB.
    max_decode_bytes: int = setting(48 * 1024 * 1024, low=1024 * 1024, high=2**40)
    # libjpeg writes 10 scans for a progressive colour JPEG and mozjpeg about as many; each scan walks the whole
    # coefficient buffer, so crafted files repeat cheap scans by the hundred (NVIDIA's nvImageCodec caps at 256).
    max_jpeg_scans: int = setting(32, low=1, high=100_000)
    # Tags in one TIFF directory (a TIFF's own; the EXIF and MPF blocks of any format): Pillow parses them one at a
    # time in Python on the event loop, ~4 us each. Real images hold tens; 256 bounds a file to ~25 ms.
    max_image_tags: int = setting(256, low=16, high=65_535)
    # All images of one request together: a batch of images each just inside the budget cannot add up to
    # seconds of decoding. Images past it get their own 413 entry in the batch's answer.
    max_request_decode_bytes: int = setting(64 * 1024 * 1024, low=1024 * 1024, high=2**40)
    # Decoding anything bigger than a thumbnail runs in this many threads (0: one per CPU the process may use);
    # past the queue, new images get 503.
    decode_workers: int = setting(0, low=0, high=256)
    max_decode_queue: int = setting(64, low=1, high=1_000_000)
    max_batch_images: int = setting(64, low=1, high=100_000)
    high_confidence: float = setting(0.80, low=0.0, high=1.0)
    low_confidence: float = setting(0.50, low=0.0, high=1.0)
    reject_below: float | None = setting(None, low=0.0, high=1.0)
    resize: ResizeMode = "squash"
    log_level: LogLevel = "info"
    access_log: bool = True
    cors_origins: tuple[str, ...] = ()
    # Time a request may take once its body is in: decoding, queueing and inference. Past it: 504.
    request_timeout_s: float = setting(10.0, low=0.01, high=3600.0)
    # HTTP limits, enforced by the server's protocol before the app sees a request.
    max_header_bytes: int = setting(32 * 1024, low=1024, high=2**30)  # request line and headers; past it: 431
    max_headers: int = setting(100, low=8, high=100_000)
    header_timeout_s: float = setting(10.0, low=0.1, high=3600.0)  # to receive the request line and headers
    body_timeout_s: float = setting(10.0, low=0.1, high=3600.0)  # longest pause while a body is arriving
    keep_alive_timeout_s: float = setting(5.0, low=0.1, high=3600.0)  # an idle keep-alive connection closes
    max_connections: int = setting(1024, low=1, high=1_000_000)  # open connections; past it: 503
    # Lame-duck time after SIGTERM: readiness is red and every answer says Connection: close, so load balancers
    # stop routing and clients move on; only then does the server stop accepting and drain.
    drain_s: float = setting(3.0, low=0.0, high=3600.0)
    shutdown_timeout_s: float = setting(30.0, low=0.0, high=3600.0)
    # The stage-by-stage CPU table (cifar10_stage_seconds_total) times one call in this many at each stage, at
    # random, and scales it: the thread clock is a system call (see service/stages.py). 1 times every request.
    stage_timing_one_in: int = setting(16, low=1, high=1_000_000)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check_field(field, getattr(self, field.name))
        largest_body = max(self.max_upload_bytes, self.max_batch_upload_bytes)
        if self.max_body_memory_bytes < 4 * largest_body:
            # A body is held twice while it is joined or parsed: at 4x, one request holds at most half.
            raise SettingsError(
                f"{env_name('max_body_memory_bytes')} ({self.max_body_memory_bytes}) must be at least 4 times the "
                f"largest body limit ({largest_body}), so that one request cannot hold the memory of all the others"
            )
        if self.max_request_decode_bytes < self.max_decode_bytes:
            raise SettingsError(
                f"{env_name('max_request_decode_bytes')} ({self.max_request_decode_bytes}) must be at least "
                f"{env_name('max_decode_bytes')} ({self.max_decode_bytes})"
            )
        if self.low_confidence > self.high_confidence:
            raise SettingsError(
                f"{env_name('low_confidence')} ({self.low_confidence}) must not exceed "
                f"{env_name('high_confidence')} ({self.high_confidence})"
            )
        if self.model_sha256 is not None:
            if not _is_sha256(self.model_sha256):
                raise SettingsError(f"{env_name('model_sha256')} must be 64 hex digits, got {self.model_sha256!r}")
            object.__setattr__(self, "model_sha256", self.model_sha256.lower())  # hashlib's hexdigest is lowercase
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
        values: dict[str, Any] = {}
        for name, parse in _parsers().items():
            raw = environ.get(env_name(name))
            if raw is None:
                continue
            try:
                values[name] = parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{env_name(name)} has an invalid value {raw!r}: {exc}") from None
        return cls(**values)

    @staticmethod
    def unknown_variables(environ: Mapping[str, str]) -> list[str]:
        """A warning for each ``CIFAR10_*`` variable that sets nothing (a typo), naming the closest real one."""
        known = [name.upper() for name in _parsers()]
        warnings = []
        for key in sorted(environ):
            if key.startswith(ENV_PREFIX) and key.removeprefix(ENV_PREFIX) not in known:
                close = difflib.get_close_matches(key.removeprefix(ENV_PREFIX), known, n=1)
                hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
                warnings.append(f"{key} is not a setting and is ignored{hint}")
        return warnings


@cache
def _types() -> dict[str, Any]:
    """Field name -> its type (the annotations are strings until resolved)."""
    return get_type_hints(Settings)


@cache
def _parsers() -> dict[str, Callable[[str], Any]]:
    """Field name -> the parser its type calls for."""
    return {name: _parser_for(kind) for name, kind in _types().items()}


def _parser_for(kind: Any) -> Callable[[str], Any]:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        # X | None reads "", "none" or "off" as None; X | Literal[...] reads the literal's words as themselves.
        optional = type(None) in get_args(kind)
        words = _literal_words(kind)
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None) and get_origin(arg) is not Literal]
        parse_inner = _parser_for(inner)

        def parse(raw: str) -> Any:
            lowered = raw.lower()
            if lowered in words:
                return lowered
            if optional and lowered in _NONE:
                return None
            try:
                return parse_inner(raw)
            except ValueError as exc:
                raise ValueError(" or ".join([str(exc), *sorted(words)])) from None

        return parse
    if origin is Literal:
        return str.lower  # checked against the choices in __post_init__
    if origin is tuple:
        return lambda raw: tuple(item.strip() for item in raw.split(",") if item.strip())
    parsers: dict[Any, Callable[[str], Any]] = {
        bool: _parse_bool,
        int: _parse_int,
        float: _parse_float,
        str: str,
        Path: Path,
    }
    return parsers[kind]


def _literal_words(kind: Any) -> set[str]:
    """The words a union type spells out as literals (``float | Literal["auto"]``: ``{"auto"}``)."""
    return {word for arg in get_args(kind) if get_origin(arg) is Literal for word in get_args(arg)}


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected an integer") from None


def _parse_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(value):
        raise ValueError("expected a number, not infinite or NaN")
    return value


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)


def _check_field(field: dataclasses.Field[Any], value: Any) -> None:
    kind = _types()[field.name]
    if get_origin(kind) is Literal and value not in get_args(kind):
        raise SettingsError(f"{env_name(field.name)} must be one of {', '.join(get_args(kind))}, got {value!r}")
    low, high = field.metadata.get("range", (None, None))
    words = _literal_words(kind)
    if value is None or (low is None and high is None) or (isinstance(value, str) and value in words):
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SettingsError(f"{env_name(field.name)} must be between {low} and {high}, got {value!r}")
