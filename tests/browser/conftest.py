"""Fixtures for the web page tests: the real service in a subprocess, headless Chromium, a CIFAR-10 test image."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from benchmarks.processes import RunningServer, service_spec
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


@contextmanager
def running_service(settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run ``python -m service`` on a free port with the given CIFAR10_* settings; yield its base URL."""
    environ = {"CIFAR10_LOG_LEVEL": "warning", "CIFAR10_ACCESS_LOG": "false", **settings}
    model = environ.pop("CIFAR10_MODEL", "fp32")
    with RunningServer(service_spec(model, environ), tmp_path_factory.mktemp("service")) as server:
        yield server.url


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
