"""The ``python -m service`` entry point: flags over environment, one-line start-up failures, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.__main__ import EXIT_MODEL_ERROR, EXIT_START_FAILURE, EXIT_USAGE, build_settings, main, parse_arguments
from service.runtime import OnnxModel
from service.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_flags_override_the_environment() -> None:
    environ = {"CIFAR10_HOST": "0.0.0.0", "CIFAR10_PORT": "9000", "CIFAR10_MODEL": "int8", "CIFAR10_WORKERS": "2"}
    settings = build_settings(parse_arguments(["--port", "9100", "--model", "/tmp/m.onnx"]), environ)
    assert (settings.host, settings.port, settings.model, settings.workers) == ("0.0.0.0", 9100, "/tmp/m.onnx", 2)
    settings = build_settings(parse_arguments([]), environ)
    assert (settings.port, settings.model) == (9000, "int8")


def test_bad_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIFAR10_MAX_QUEUE", "lots")
    assert main([]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "CIFAR10_MAX_QUEUE" in error and "'lots'" in error


def test_bad_port_flag_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "99999"]) == EXIT_USAGE
    assert "CIFAR10_PORT" in capsys.readouterr().err


def start_without_a_model(tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """``python -m service`` on a model file that does not exist, with only ``environ`` set."""
    return subprocess.run(
        [sys.executable, "-m", "service", "--model", str(tmp_path / "absent.onnx"), "--port", "0"],
        cwd=PROJECT_ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **environ},
    )


def test_missing_model_exits_non_zero_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = start_without_a_model(tmp_path)
    assert result.returncode == EXIT_MODEL_ERROR
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "absent.onnx" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_misspelt_variable_is_one_json_warning_naming_the_real_one(tmp_path: Path) -> None:
    result = start_without_a_model(tmp_path, CIFAR10_MAX_BATCH_SZE="8")
    assert result.returncode == EXIT_MODEL_ERROR
    warnings = [json.loads(line) for line in result.stderr.splitlines() if "CIFAR10_MAX_BATCH_SZE" in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "CIFAR10_MAX_BATCH_SIZE" in warnings[0]["message"]


def test_one_worker_serves_the_model_checked_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path
) -> None:
    from starlette.testclient import TestClient

    import service.__main__ as entry
    import service.app

    loads: list[str] = []
    real_load = entry.load_model

    def counting_load(settings: Settings) -> OnnxModel:
        loads.append(settings.model)
        return real_load(settings)

    served: list[Any] = []
    monkeypatch.setattr(entry, "load_model", counting_load)
    monkeypatch.setattr(service.app, "load_model", counting_load)
    monkeypatch.setattr(entry, "serve", lambda settings, app, sock: (served.append(app), sock.close()))
    monkeypatch.setattr(entry.signal, "signal", lambda *arguments: None)  # keep pytest's own SIGTERM handler
    assert main(["--model", str(tiny_model_path), "--port", "0"]) == 0
    with TestClient(served[0]) as client:  # the lifespan starts the app uvicorn was given
        assert client.get("/ready").status_code == 200
    assert loads == [str(tiny_model_path)]  # loaded (and checked) once, not again by the lifespan


def test_a_port_in_use_is_one_clear_line_before_the_model_loads(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--model", "/nonexistent.onnx"]) == EXIT_START_FAILURE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line and "CIFAR10_PORT" in line
    assert "nonexistent" not in line  # refused before the model was even looked at
