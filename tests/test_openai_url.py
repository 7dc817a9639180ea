"""tubesum's ``url`` extension of ``POST /v1/audio/transcriptions``: a media URL or YouTube link instead of a file.

A real ``tubesum serve`` (tiny.en) fetches speech from a loopback media server with yt-dlp; the refusals run
in-process with DNS limited to loopback. The official SDK always sends a ``file``, so a url-only form goes out
through httpx as multipart; the SDK's ``extra_body`` adds ``url`` beside a file (refused: both).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from litestar.testing import TestClient

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from inprocess import migrated_store
from servers import Server, openai_client, running_server
from tubesum.api.app import create_app
from tubesum.config import Settings

YOUTUBE = "https://youtu.be/dQw4w9WgXcQ"


def form(**fields: str) -> dict[str, tuple[None, str]]:
    """Form fields as httpx multipart parts (without a file httpx would send them url-encoded)."""
    return {name: (None, value) for name, value in fields.items()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("openai-url"), TUBESUM_JOB_RETRIES="0", TUBESUM_UPLOADS_ENABLED="true"
    ) as srv:
        yield srv


def test_a_media_url_is_transcribed_like_a_file(
    server: Server, http_server: LoopbackServer, make_media: Any, speech_wav: Path
) -> None:
    (http_server.root / "talk.webm").write_bytes(make_media("speech.webm").read_bytes())
    url = http_server.url("talk.webm")
    with server.client() as client:
        answer = client.post(
            "/v1/audio/transcriptions", files=form(url=url, model="whisper-1", response_format="verbose_json")
        )
        assert answer.status_code == 200, answer.text
        assert word_overlap(SPEECH_WORDS, answer.json()["text"]) >= 0.6, answer.json()
        assert answer.json()["segments"]
        jobs = client.get("/v1/jobs").json()["items"]
    assert any(j["source"] == url and j["state"] == "succeeded" for j in jobs)  # a normal job underneath
    assert "/talk.webm" in http_server.requests


def test_both_or_neither_is_an_openai_error(server: Server, speech_wav: Path, http_server: LoopbackServer) -> None:
    sdk = openai_client(server, timeout=60)
    with speech_wav.open("rb") as audio, pytest.raises(openai.BadRequestError) as both:
        sdk.audio.transcriptions.create(model="whisper-1", file=audio, extra_body={"url": http_server.url("a.m4a")})
    assert both.value.body["code"] == "invalid_request" and "not both" in both.value.body["message"]  # type: ignore[index]
    with server.client() as client:
        neither = client.post("/v1/audio/transcriptions", files=form(model="whisper-1"))
    assert neither.status_code == 400
    assert neither.json()["error"]["code"] == "invalid_request" and "url" in neither.json()["error"]["message"]
    assert http_server.requests == []
    assert list((Path(server.env["TUBESUM_DATA_DIR"]) / "uploads").glob("**/*.wav")) == []  # the file is gone


# -- in-process: the same source rules as /v1/jobs -------------------------------------------------------
@pytest.fixture
def app_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "rate_limit_per_minute": 0,
            "job_retries": 0,
            "allow_generic_urls": True,
            "openai_wait_seconds": 60.0,
        }
    )


@pytest.mark.usefixtures("loopback_dns_only")
def test_a_youtube_link_becomes_a_youtube_job_with_captions_first(app_settings: Settings) -> None:
    """Uploads are off here: a URL needs no upload store."""
    store = migrated_store(app_settings)
    _, token = store.create_key("k")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app=create_app(app_settings, store=store, worker=True)) as client:
        answer = client.post("/v1/audio/transcriptions", files=form(url=YOUTUBE), headers=headers)
        [job] = client.get("/v1/jobs", headers=headers).json()["items"]
    # Offline, YouTube cannot be reached: the job tried (captions first, then audio) and failed like any job.
    assert answer.status_code >= 400 and set(answer.json()) == {"error"}
    assert answer.json()["error"]["code"] == job["error"]["code"]
    assert job["source"] == YOUTUBE and job["options"]["captions"] == "auto"
    assert store.get(job["id"]).source_key == "youtube:dQw4w9WgXcQ"  # type: ignore[union-attr]


@pytest.mark.usefixtures("loopback_dns_only")
def test_the_ssrf_guard_applies_to_the_url(
    app_settings: Settings, http_server: LoopbackServer, make_media: Any
) -> None:
    (http_server.root / "talk.m4a").write_bytes(make_media("speech.m4a").read_bytes())
    production = app_settings.model_copy(update={"environment": "production", "allow_private_addresses": False})
    store = migrated_store(production)
    _, token = store.create_key("k")
    with TestClient(app=create_app(production, store=store, worker=True)) as client:
        answer = client.post(
            "/v1/audio/transcriptions",
            files=form(url=http_server.url("talk.m4a")),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["error"]["code"] == "unsafe_url"
    assert http_server.requests == []


def test_a_url_that_is_not_a_url_is_refused_like_on_v1_jobs(app_settings: Settings) -> None:
    store = migrated_store(app_settings)
    _, token = store.create_key("k")
    with TestClient(app=create_app(app_settings, store=store, worker=False)) as client:
        answer = client.post(
            "/v1/audio/transcriptions",
            files=form(url="file:///etc/passwd"),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code in (400, 422) and answer.json()["error"]["code"] in ("unsafe_url", "invalid_url")
    assert store.list(owner=None).total == 0
