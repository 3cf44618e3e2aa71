"""``python -m service`` / ``cifar10-serve``: check the settings and the model, then run uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Final

from service.errors import ModelLoadError
from service.logs import configure_logging
from service.memory import tune_allocator, tune_garbage_collector
from service.pipeline import load_model, warm_up_sizes
from service.runtime import OnnxModel
from service.server import listen, serve
from service.settings import Settings, SettingsError, env_name

MULTIPROCESS_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own, read by it alone
EXIT_OK: Final = 0
EXIT_MODEL_ERROR: Final = 1
EXIT_START_FAILURE: Final = 1  # the port cannot be bound
EXIT_USAGE: Final = 2

logger = logging.getLogger("service")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command-line flags (each overrides its environment variable)."""
    parser = argparse.ArgumentParser(
        prog="cifar10-serve",
        description="Serve the CIFAR-10 model over HTTP. Every setting also reads a CIFAR10_* environment variable.",
    )
    parser.add_argument("--host", help="interface to bind (CIFAR10_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (CIFAR10_PORT, default 8000)")
    parser.add_argument("--model", help="fp32, int8 or a path to an .onnx file (CIFAR10_MODEL, default fp32)")
    return parser.parse_args(argv)


def build_settings(arguments: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from the environment with the command-line flags on top."""
    return Settings.from_environ(environ).with_overrides(
        host=arguments.host, port=arguments.port, model=arguments.model
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until it is stopped; return the process exit code."""
    arguments = parse_arguments(argv)
    configure_logging("info")  # every start-up failure is one JSON line, a bad setting included
    try:
        settings = build_settings(arguments, os.environ)
    except SettingsError as exc:
        logger.error("cannot start: %s", exc)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    for warning in Settings.unknown_variables(os.environ):
        logger.warning(warning)
    tune_allocator()
    try:
        sock = listen(settings)
    except OSError as exc:
        logger.error(
            "cannot start: cannot listen on %s:%d: %s (set CIFAR10_HOST / CIFAR10_PORT or --host / --port)",
            settings.host,
            settings.port,
            exc.strerror or exc,
        )
        return EXIT_START_FAILURE
    try:
        # Fail fast with one line (no traceback) before uvicorn starts, also for a model that loads but cannot
        # run at any batch size the batcher will use. One worker serves this very model; several workers are
        # separate processes, each loading its own in the app's lifespan.
        model = load_model(settings)
        model.warm_up(warm_up_sizes(settings), repeats=1)
    except ModelLoadError as exc:
        sock.close()
        logger.error("cannot start: %s", exc)
        return EXIT_MODEL_ERROR
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal at the handler it found, which
    # by default kills the process (status -15, 143 in a container). A drained stop is a clean stop: exit 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    run(settings, sock, model)
    return EXIT_OK


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(EXIT_OK)


def run(settings: Settings, sock: socket.socket, model: OnnxModel | None = None) -> None:
    """Serve the app (several worker processes through the import-string factory).

    With one worker, an already loaded ``model`` is served as it is instead of being loaded again.
    """
    from service.app import create_app

    if settings.workers == 1:
        app = create_app(settings) if model is None else create_app(settings, lambda _settings: model)
        tune_garbage_collector()  # the modules, the model and the app live as long as the process
        serve(settings, app, sock)
        return
    # Worker processes rebuild the settings from the environment: pass the flag overrides along, and give
    # prometheus-client's multiprocess mode a folder of its own that the workers share.
    for name in ("host", "port", "model"):
        os.environ[env_name(name)] = str(getattr(settings, name))
    with tempfile.TemporaryDirectory(prefix="cifar10-metrics-") as metrics_dir:
        os.environ[MULTIPROCESS_DIR_VARIABLE] = metrics_dir
        serve(settings, None, sock)


if __name__ == "__main__":
    sys.exit(main())
