"""The browser UI page in-process (Litestar TestClient): public page, CSP without inline code, switches, escaping.

What the page does in a browser (submit, progress, transcript, player, auth prompt) is in test_ui_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from inprocess import client_for, migrated_store
from tubesum.api.ui import UI_CSP
from tubesum.config import Settings
from tubesum.jobs.store import SqlJobStore


@pytest.fixture
def ui_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data", "rate_limit_per_minute": 0})


@pytest.fixture
def store(ui_settings: Settings) -> SqlJobStore:
    return migrated_store(ui_settings)


@pytest.fixture
def client(ui_settings: Settings, store: SqlJobStore) -> Iterator[TestClient[Any]]:
    with client_for(ui_settings, store) as c:
        yield c


def test_page_is_public_html_with_a_strict_csp(client: TestClient[Any]) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert csp == UI_CSP
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_page_has_no_inline_script_or_style_and_labels_every_input(client: TestClient[Any]) -> None:
    html = client.get("/").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="/ui/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert " style=" not in html and "<style" not in html and " on" + "click=" not in html
    for landmark in ("<header", "<main", "<footer", 'class="skip-link"'):
        assert landmark in html
    assert 'aria-live="polite"' in html
    ids = re.findall(r"<input[^>]*\bid=\"([^\"]+)\"", html)
    assert {"source", "model", "language", "api-key", "diarize", "summarize"} <= set(ids)
    for input_id in ids:
        if input_id not in ("diarize", "summarize"):  # those two are wrapped by their label
            assert f'for="{input_id}"' in html, f"#{input_id} has no label"


def test_auth_and_upload_switches_reach_the_page(ui_settings: Settings, store: SqlJobStore) -> None:
    with client_for(ui_settings, store) as client:
        html = client.get("/").text
        assert 'data-auth-required="true"' in html and 'data-uploads-enabled="false"' in html
        assert 'type="file"' not in html
    open_settings = ui_settings.model_copy(update={"auth_disabled": True, "uploads_enabled": True, "upload_max_mb": 7})
    with client_for(open_settings, store) as client:
        html = client.get("/").text
        assert 'data-auth-required="false"' in html and 'data-uploads-enabled="true"' in html
        assert 'type="file"' in html and "up to 7 MB" in html and ".m4a" in html


def test_static_files_are_public_with_their_types(client: TestClient[Any]) -> None:
    js = client.get("/ui/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "innerHTML" not in js.text and "eval(" not in js.text
    css = client.get("/ui/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/%2e%2e/__init__.py").status_code == 404


def test_ui_can_be_switched_off_while_the_api_stays(ui_settings: Settings, store: SqlJobStore) -> None:
    with client_for(ui_settings.model_copy(update={"ui_enabled": False}), store) as client:
        assert client.get("/").status_code == 404
        assert client.get("/ui/static/app.js").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_server_rendered_values_are_escaped(ui_settings: Settings, store: SqlJobStore) -> None:
    hostile = ui_settings.model_copy(update={"model": 'tiny"><script>alert(1)</script>'})
    with client_for(hostile, store) as client:
        html = client.get("/").text
    assert "<script>alert(1)" not in html
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_api_keeps_its_own_csp(client: TestClient[Any]) -> None:
    response = client.get("/healthz")
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_advanced_section_has_a_labelled_input_for_every_api_option(client: TestClient[Any]) -> None:
    from tubesum.frontends.session import MAIN_FIELDS
    from tubesum.jobs.types import API_FIELDS

    html = client.get("/").text
    assert '<details id="advanced">' in html
    for name in API_FIELDS:
        if name in MAIN_FIELDS:
            continue
        assert f'id="opt-{name}" data-option="{name}"' in html, name
        assert f'<label for="opt-{name}">' in html, name
    assert 'data-option="device"' not in html and 'data-option="output_dir"' not in html  # the server's to choose
