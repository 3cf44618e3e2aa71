"""The ``GET /`` web page in headless Chromium against the real service: predict, escape, report errors."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.artifacts import HOSTILE_LABELS, write_png

pytestmark = [pytest.mark.browser, pytest.mark.server]

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".txt": "text/plain"}


def predict_directly(base_url: str, path: Path) -> httpx.Response:
    """POST the file to /predict the way the page does (multipart field ``file``, top_k=10)."""
    content_type = CONTENT_TYPES[path.suffix.lower()]
    return httpx.post(
        f"{base_url}/predict",
        params={"top_k": 10},
        files={"file": (path.name, path.read_bytes(), content_type)},
        timeout=10.0,
    )


def shown_percent(page: Page, selector: str) -> float:
    """Read a percentage such as ``91.2 %`` from the page."""
    text = page.locator(selector).inner_text()
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*", text)
    assert match, f"{selector} shows {text!r}, not a percentage"
    return float(match.group(1))


def bar_fractions(page: Page) -> list[float]:
    """Width of each probability bar relative to its track, top to bottom."""
    fractions: list[float] = page.eval_on_selector_all(
        "#bars .bar-fill",
        "fills => fills.map(f => f.getBoundingClientRect().width / f.parentElement.getBoundingClientRect().width)",
    )
    return fractions


def expect_prediction_shown(page: Page, expected: dict[str, Any]) -> None:
    """Assert the result panel shows exactly the prediction ``expected`` (a /predict response body)."""
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#label")).to_have_text(expected["label"])
    assert shown_percent(page, "#confidence") == pytest.approx(expected["confidence"] * 100, abs=0.051)
    band = page.locator("#band")
    if expected["accepted"]:
        expect(band).to_have_attribute("data-band", expected["band"])
        expect(band).to_contain_text(expected["band"])
    else:  # no confidence colour beside "Rejected"
        expect(band).to_have_attribute("data-band", "rejected")
        expect(band).to_contain_text("rejection threshold")
    expect(page.locator("#accepted")).to_have_text("Accepted" if expected["accepted"] else "Rejected")
    expect(page.locator("#prediction")).to_have_text(expected["prediction"])
    rows = page.locator("#bars li")
    expect(rows).to_have_count(len(expected["probabilities"]))
    by_probability = sorted(expected["probabilities"].items(), key=lambda item: item[1], reverse=True)
    assert rows.locator(".bar-name").all_text_contents() == [label for label, _ in by_probability]
    fractions = bar_fractions(page)
    assert fractions == sorted(fractions, reverse=True)
    assert fractions[0] == pytest.approx(expected["confidence"], abs=0.01)


def test_the_page_shows_the_prediction_the_api_returns(
    page: Page, service_url: str, cifar_test_image: Path, console_errors: list[str]
) -> None:
    page.goto(f"{service_url}/")
    model = httpx.get(f"{service_url}/model", timeout=10.0).json()
    expect(page.locator("#model-info")).to_contain_text(model["name"])
    expect(page.locator("#model-info")).to_contain_text(model["precision"].upper())

    with page.expect_response(lambda response: "/predict" in response.url) as answer:
        page.set_input_files("#file", cifar_test_image)
    page_response = answer.value
    direct = predict_directly(service_url, cifar_test_image)
    assert direct.status_code == 200, direct.text
    expected = direct.json()
    assert page_response.json()["label"] == expected["label"]

    expect_prediction_shown(page, expected)
    assert [entry["label"] for entry in expected["top_k"]] == page.locator("#bars .bar-name").all_text_contents()
    expect(page.locator("#request-id")).to_have_text(page_response.headers["x-request-id"])
    expect(page.locator("#timing-round-trip")).to_have_text(re.compile(r"^[0-9]+\.[0-9] ms$"))
    expect(page.locator("#timing-server")).to_have_text(re.compile(r"^[0-9]+\.[0-9]{2} ms$"))  # Server-Timing
    expect(page.locator("#preview-name")).to_have_text(cifar_test_image.name)
    assert page.eval_on_selector("#preview-image", "image => image.naturalWidth") > 0
    assert console_errors == [], "the page logged errors (a CSP violation or a script error)"


def test_the_endpoint_links_lead_somewhere(page: Page, service_url: str) -> None:
    page.goto(f"{service_url}/")
    links = page.locator("footer a")
    hrefs = [links.nth(index).evaluate("link => link.href") for index in range(links.count())]
    assert sorted(href.removeprefix(service_url) for href in hrefs) == ["/docs", "/metrics", "/model", "/openapi.json"]
    for href in hrefs:
        assert page.request.get(href).status == 200, href


def test_the_drop_zone_is_keyboard_reachable_and_takes_a_dropped_file(
    page: Page, service_url: str, cifar_test_image: Path
) -> None:
    page.goto(f"{service_url}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"
    assert page.eval_on_selector("#drop", "zone => zone.matches(':focus-within')")

    page.eval_on_selector(
        "#drop",
        """(zone, [name, type, encoded]) => {
            const bytes = Uint8Array.from(atob(encoded), (character) => character.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [
            cifar_test_image.name,
            CONTENT_TYPES[cifar_test_image.suffix],
            base64.b64encode(cifar_test_image.read_bytes()).decode(),
        ],
    )
    expect_prediction_shown(page, predict_directly(service_url, cifar_test_image).json())
    expect(page.locator("#preview-name")).to_have_text(cifar_test_image.name)


def test_a_hostile_filename_is_shown_as_text(
    page: Page, service_url: str, tmp_path: Path, console_errors: list[str]
) -> None:
    name = "<img src=x onerror=alert(1)>.png"
    image = tmp_path / name
    write_png(image)
    page.goto(f"{service_url}/")
    page.set_input_files("#file", image)
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#preview-name")).to_have_text(name)
    expect(page.locator("#status")).to_contain_text(name)
    assert page.locator("img[src='x']").count() == 0
    assert console_errors == []


def test_hostile_labels_from_model_metadata_are_shown_as_text_and_a_rejection_reads_unknown(
    page: Page, hostile_service_url: str, cifar_test_image: Path, console_errors: list[str]
) -> None:
    page.goto(f"{hostile_service_url}/")
    page.set_input_files("#file", cifar_test_image)
    expected = predict_directly(hostile_service_url, cifar_test_image).json()
    assert expected["label"] in HOSTILE_LABELS
    assert expected["accepted"] is False
    expect_prediction_shown(page, expected)
    expect(page.locator("#prediction")).to_have_text("unknown")
    expect(page.locator("#result")).to_contain_text("rejection threshold")
    assert page.locator("img[src='x']").count() == 0
    assert console_errors == []


def test_an_error_response_is_shown_as_a_readable_message(
    page: Page, service_url: str, tmp_path: Path, cifar_test_image: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not an image\n")
    direct = predict_directly(service_url, notes)
    assert 400 <= direct.status_code < 500
    message = direct.json()["error"]

    page.goto(f"{service_url}/")
    page.set_input_files("#file", notes)
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(message)
    expect(error).to_contain_text("notes.txt")
    expect(error).to_contain_text(f"HTTP {direct.status_code}")
    expect(error).not_to_contain_text("{")
    expect(page.locator("#result")).to_be_hidden()

    # The next good image clears the error.
    page.set_input_files("#file", cifar_test_image)
    expect(page.locator("#result")).to_be_visible()
    expect(error).to_be_hidden()


def test_the_api_docs_work_offline_under_the_strict_policy(
    page: Page, service_url: str, console_errors: list[str]
) -> None:
    outside: list[str] = []

    def only_this_service(route: Any) -> None:
        if route.request.url.startswith(service_url):
            route.continue_()
        else:  # no CDN, no font service: anything else would fail on an offline box
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_service)
    response = page.goto(f"{service_url}/docs")
    assert response is not None and "script-src 'self';" in response.headers["content-security-policy"]
    expect(page.locator(".opblock-summary-path", has_text="/predict/batch")).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("CIFAR-10 inference service")
    assert outside == []
    assert console_errors == [], "Swagger UI logged errors (a CSP violation or a script error)"
