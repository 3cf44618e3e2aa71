"""Run ``python -m service`` for the reliability sections: a :class:`benchmarks.processes.RunningServer` on a free
loopback port, its log in a file, ready before it is handed out and stopped afterwards."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from benchmarks.config import MODELS_DIR
from benchmarks.processes import HOST, RunningServer, ServerSpec


def service_spec(name: str, model: str, environ: Mapping[str, str] | None = None) -> ServerSpec:
    """The service on ``model`` (fp32, int8 or a path) with its defaults, except for ``environ``."""
    return ServerSpec(
        name=name,
        argv=(sys.executable, "-m", "service", "--host", HOST, "--port", "{port}"),
        env={"CIFAR10_MODEL": model, "CIFAR10_MODELS_DIR": str(MODELS_DIR), **(environ or {})},
    )


@contextmanager
def service_process(
    name: str, model: str, log_dir: Path, environ: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """Start the service (unpinned), wait for /ready, stop it afterwards; the log is ``log_dir/<name>-<port>.log``."""
    with RunningServer(service_spec(name, model, environ), (), log_dir) as server:
        server.wait_ready()
        yield server
