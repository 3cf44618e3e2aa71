"""Fixtures for the web page tests: the real service in a subprocess, headless Chromium, a CIFAR-10 test image."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from tests.browser.artifacts import write_hostile_model, write_png

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATASET_ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 60.0


def find_free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/ready`` until it answers 200; fail with the server's log if it exits or never gets ready."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited with {process.returncode} before it was ready:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the service was not ready within {SERVER_START_TIMEOUT_S} s:\n{log.read_text()}")


@contextmanager
def running_service(settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run ``python -m service`` on a free port with the given CIFAR10_* settings; yield its base URL."""
    port = find_free_port()
    base_url = f"http://127.0.0.1:{port}"
    # Inherit PATH and friends, but not a developer's CIFAR10_* overrides.
    environ = {name: value for name, value in os.environ.items() if not name.startswith("CIFAR10_")}
    environ |= {
        "CIFAR10_MODELS_DIR": str(PROJECT_ROOT / "models"),
        "CIFAR10_LOG_LEVEL": "warning",
        "CIFAR10_ACCESS_LOG": "false",
        **settings,
    }
    log = tmp_path_factory.mktemp("service") / "service.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service with the committed FP32 model."""
    with running_service({"CIFAR10_MODEL": "fp32"}, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `bash scripts/system-deps.sh` (installs Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console_errors() -> list[str]:
    """Console errors, uncaught exceptions and dialogs of the test's page (CSP violations are console errors)."""
    return []


@pytest.fixture
def page(browser: Browser, console_errors: list[str]) -> Iterator[Page]:
    """A fresh browser context and page; alerts are recorded as errors and dismissed."""
    # Reduced motion: no bar-width transition, so widths read at once are final.
    context = browser.new_context(viewport={"width": 1100, "height": 900}, reduced_motion="reduce")
    context.set_default_timeout(10_000)
    new_page = context.new_page()

    def record_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(f"console: {message.text}")

    new_page.on("console", record_console)
    new_page.on("pageerror", lambda error: console_errors.append(f"uncaught: {error}"))

    def record_dialog(dialog: Dialog) -> None:
        console_errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    new_page.on("dialog", record_dialog)
    try:
        yield new_page
    finally:
        context.close()


@pytest.fixture(scope="session")
def cifar_test_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CIFAR-10 test-split JPEG from the shared archive, or a generated PNG when the archive is absent."""
    folder = tmp_path_factory.mktemp("images")
    if DATASET_ARCHIVE.exists():
        with tarfile.open(DATASET_ARCHIVE) as archive:
            # The test split follows the 50,000 training files; stream to the first one instead of listing all.
            for member in archive:
                if member.isfile() and member.name.startswith("test/") and member.name.endswith(".jpg"):
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    path = folder / f"{Path(member.name).parent.name}-{Path(member.name).name}"
                    path.write_bytes(extracted.read())
                    return path
    path = folder / "generated.png"
    write_png(path)
    return path


@pytest.fixture(scope="module")
def hostile_service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service serving a model with hostile labels, rejecting every prediction (CIFAR10_REJECT_BELOW=1)."""
    model = tmp_path_factory.mktemp("hostile-model") / "hostile.onnx"
    write_hostile_model(model)
    with running_service({"CIFAR10_MODEL": str(model), "CIFAR10_REJECT_BELOW": "1.0"}, tmp_path_factory) as url:
        yield url
