"""Security properties in process: generic 500s that leak nothing, security headers, CORS off unless configured,
request-id hygiene, and a page that never renders server text as HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from reliability.catalogue import sample_jpeg
from service import pipeline
from service.app import INDEX_PATH, create_app
from tests.reliability.leaks import leaks_in
from tests.service.conftest import SettingsFactory

JPEG = {"content-type": "image/jpeg"}


def test_an_unexpected_error_is_a_plain_500_without_internals(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_answer(*arguments: object, **options: object) -> dict[str, object]:
        # A bug the app cannot expect, with an internal path in its message.
        raise FileNotFoundError("/srv/models/secret/labels.json")

    monkeypatch.setattr(pipeline, "describe_prediction", broken_answer)
    with TestClient(create_app(make_settings()), raise_server_exceptions=False) as client:
        response = client.post("/predict", content=sample_jpeg(), headers={**JPEG, "x-request-id": "boom-1"})
        assert response.status_code == 500
        assert response.json() == {"error": "internal server error", "code": "internal_error"}
        assert response.headers["x-request-id"] == "boom-1"
        assert leaks_in(response.text) == []
        assert "secret" not in response.text
        assert client.get("/health").status_code == 200  # and it keeps serving


def test_page_has_security_headers(make_settings: SettingsFactory) -> None:
    with TestClient(create_app(make_settings())) as client:
        response = client.get("/")
    headers = response.headers
    assert response.status_code == 200
    csp = headers["content-security-policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "server" not in headers


@pytest.mark.parametrize("path", ["/health", "/model", "/openapi.json", "/metrics", "/nowhere"])
def test_every_answer_says_nosniff(make_settings: SettingsFactory, path: str) -> None:
    with TestClient(create_app(make_settings())) as client:
        assert client.get(path).headers["x-content-type-options"] == "nosniff"


def test_cors_is_off_by_default(make_settings: SettingsFactory) -> None:
    preflight = {"origin": "http://evil.example", "access-control-request-method": "POST"}
    with TestClient(create_app(make_settings())) as client:
        simple = client.post("/predict", content=sample_jpeg(), headers={**JPEG, "origin": "http://evil.example"})
        options = client.options("/predict", headers=preflight)
    assert simple.status_code == 200
    assert not [name for name in simple.headers if name.startswith("access-control-")]
    assert options.status_code == 405  # no CORS middleware: OPTIONS is just an unsupported method
    assert not [name for name in options.headers if name.startswith("access-control-")]


def test_cors_when_configured_allows_exactly_the_listed_origins(make_settings: SettingsFactory) -> None:
    allowed = "https://app.example"
    settings = make_settings(cors_origins=(allowed, "https://admin.example"))
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    with TestClient(create_app(settings)) as client:
        good = client.options("/predict", headers={**preflight, "origin": allowed})
        evil = client.options("/predict", headers={**preflight, "origin": "https://evil.example"})
        simple = client.post("/predict", content=sample_jpeg(), headers={**JPEG, "origin": allowed})
        stranger = client.post("/predict", content=sample_jpeg(), headers={**JPEG, "origin": "https://evil.example"})
    assert good.status_code == 200
    assert good.headers["access-control-allow-origin"] == allowed
    assert set(good.headers["access-control-allow-methods"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert "access-control-allow-credentials" not in good.headers
    assert evil.status_code == 400
    assert "access-control-allow-origin" not in evil.headers
    assert simple.headers["access-control-allow-origin"] == allowed
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in stranger.headers


@pytest.mark.parametrize("raw", [b"a\rb", b"x" * 300, b"<script>", b"id\x00null", "ünï".encode()])
def test_hostile_request_ids_are_replaced_not_echoed(make_settings: SettingsFactory, raw: bytes) -> None:
    with TestClient(create_app(make_settings())) as client:
        response = client.get("/health", headers={b"x-request-id": raw})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_page_never_writes_server_or_user_text_as_html() -> None:
    page = Path(INDEX_PATH).read_text()
    assert not re.findall(r"<script[^>]*>\s*[^<\s]", page), "the page has an inline script"
    script = (Path(INDEX_PATH).parent / "page.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, f"the page uses {sink}"
    assert "textContent" in script


@pytest.mark.parametrize("path", ["/", "/model", "/v2", "/v2/models/cifar10-cnn", "/openapi.json", "/metrics"])
def test_no_answer_reveals_where_the_model_lives(
    make_settings: SettingsFactory, tiny_model_path: Path, path: str
) -> None:
    with TestClient(create_app(make_settings())) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert str(tiny_model_path.parent) not in response.text
