"""Uploads in-process (Litestar TestClient, real SQLite store, real speech): limits, types, owners, confinement.

The browser flow over a real server (upload, progress, transcript, player) is in test_ui_browser.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from conftest import SPEECH_WORDS, word_overlap
from inprocess import client_for, migrated_store
from tubesum.config import Settings
from tubesum.errors import SizeLimitError
from tubesum.jobs.runner import run_job
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.submit import submit_job
from tubesum.jobs.types import JobOptions, JobState
from tubesum.jobs.uploads import check_upload, purge_uploads_before, resolve_upload, save_upload

pytestmark = pytest.mark.usefixtures("loopback_dns_only")


@pytest.fixture
def up_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"data_dir": tmp_path / "data", "rate_limit_per_minute": 0, "uploads_enabled": True, "upload_max_mb": 1}
    )


@pytest.fixture
def store(up_settings: Settings) -> SqlJobStore:
    return migrated_store(up_settings)


@pytest.fixture
def client(up_settings: Settings, store: SqlJobStore) -> Iterator[TestClient[Any]]:
    with client_for(up_settings, store) as c:
        yield c


@pytest.fixture
def key(store: SqlJobStore) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.create_key('alice')[1]}"}


@pytest.fixture
def other_key(store: SqlJobStore) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.create_key('bob')[1]}"}


def upload(
    client: TestClient[Any], headers: dict[str, str], data: bytes, *, name: str = "talk.wav", ctype: str = "audio/wav"
) -> Any:
    return client.post(
        "/v1/uploads", params={"filename": name}, content=data, headers={**headers, "Content-Type": ctype}
    )


def test_upload_then_submit_queues_a_job_on_the_uploaded_file(
    client: TestClient[Any], key: dict[str, str], speech_wav: Path, up_settings: Settings
) -> None:
    data = speech_wav.read_bytes()
    response = upload(client, key, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source"] == f"upload:{body['id']}" and body["size"] == len(data)
    stored = up_settings.upload_dir / body["id"] / "talk.wav"
    assert stored.read_bytes() == data
    job = client.post("/v1/jobs", json={"source": body["source"]}, headers=key)
    assert job.status_code == 202, job.text
    assert job.json()["source"] == body["source"]
    media = client.get(f"/v1/jobs/{job.json()['id']}/media", headers=key)
    assert media.status_code == 200 and media.content == data
    assert media.headers["content-type"].startswith("audio/wav")


def test_upload_needs_an_api_key(client: TestClient[Any]) -> None:
    assert upload(client, {}, b"RIFF").status_code == 401


def test_uploads_disabled_is_a_clear_403(
    up_settings: Settings, store: SqlJobStore, key: dict[str, str], tmp_path: Path
) -> None:
    off = up_settings.model_copy(update={"uploads_enabled": False})
    with client_for(off, store) as client:
        response = upload(client, key, b"RIFF....")
        assert response.status_code == 403
        assert response.json()["code"] == "uploads_disabled"
        # and an upload reference cannot be submitted either
        job = client.post("/v1/jobs", json={"source": "upload:up_" + "0" * 32}, headers=key)
        assert job.status_code == 403 and job.json()["code"] == "uploads_disabled"
    assert not off.upload_dir.exists()


def test_oversized_upload_is_413_and_nothing_is_kept(
    client: TestClient[Any], key: dict[str, str], up_settings: Settings
) -> None:
    response = upload(client, key, b"\0" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "size_limit"
    assert not up_settings.upload_dir.exists() or not any(up_settings.upload_dir.iterdir())


def test_oversized_stream_without_content_length_is_refused_while_streaming(up_settings: Settings) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"\0" * 65536

    with pytest.raises(SizeLimitError):
        asyncio.run(save_upload(chunks(), owner="a", filename="x.mp3", content_type="audio/mpeg", settings=up_settings))
    assert list(up_settings.upload_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "ctype", "status", "code"),
    [
        ("notes.txt", "text/plain", 415, "not_media"),
        ("talk.wav", "text/html", 415, "not_media"),
        ("noextension", "audio/wav", 415, "not_media"),
        ("talk.exe", "application/octet-stream", 415, "not_media"),
        ("talk.wav", "audio/wav", 422, "empty_audio"),
    ],
)
def test_wrong_type_or_empty_upload_is_refused(
    client: TestClient[Any], key: dict[str, str], name: str, ctype: str, status: int, code: str
) -> None:
    response = upload(client, key, b"" if code == "empty_audio" else b"data", name=name, ctype=ctype)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_file_name_cannot_escape_the_upload_folder(
    client: TestClient[Any], key: dict[str, str], up_settings: Settings
) -> None:
    response = upload(client, key, b"RIFFdata", name="../../../etc/evil.wav")
    assert response.status_code == 201
    body = response.json()
    assert body["filename"] == "evil.wav"
    assert (up_settings.upload_dir / body["id"] / "evil.wav").is_file()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../../etc/evil.wav", "evil.wav"),
        ("C:\\Users\\me\\talk.MP3", "talk.MP3"),
        ("...talk.wav", "talk.wav"),
        (".hidden.ogg", "hidden.ogg"),
        ("tab\there\x00.wav", "tab_here_.wav"),
        ("meta.json.wav", "meta.json.wav"),
        ("\ud800bad.wav", "?bad.wav"),
        ("ü" * 200 + ".m4a", "ü" * 98 + ".m4a"),
    ],
)
def test_upload_names_are_made_safe(up_settings: Settings, given: str, kept: str) -> None:
    name = check_upload(given, "audio/mpeg", settings=up_settings)
    assert name == kept
    assert len(name.encode()) <= 200


def test_another_owner_cannot_use_or_play_my_upload(
    client: TestClient[Any], key: dict[str, str], other_key: dict[str, str]
) -> None:
    ref = upload(client, key, b"RIFFdata").json()["source"]
    stolen = client.post("/v1/jobs", json={"source": ref}, headers=other_key)
    assert stolen.status_code == 404 and stolen.json()["code"] == "file_not_found"
    mine = client.post("/v1/jobs", json={"source": ref}, headers=key)
    assert mine.status_code == 202
    assert client.get(f"/v1/jobs/{mine.json()['id']}/media", headers=other_key).status_code == 404
    assert client.get(f"/v1/jobs/{mine.json()['id']}/media", headers=key).content == b"RIFFdata"


@pytest.mark.parametrize(
    "ref", ["upload:../../etc/passwd", "upload:up_" + "0" * 32, "upload:/etc/passwd", "upload:up_ABC", "/etc/passwd"]
)
def test_remote_callers_cannot_name_server_paths(client: TestClient[Any], key: dict[str, str], ref: str) -> None:
    response = client.post("/v1/jobs", json={"source": ref}, headers=key)
    assert response.status_code in (404, 422), response.text
    assert response.json()["code"] in {"file_not_found", "invalid_url"}


def test_url_jobs_have_no_media(client: TestClient[Any], key: dict[str, str]) -> None:
    job = client.post("/v1/jobs", json={"source": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, headers=key)
    assert job.status_code == 202
    assert client.get(f"/v1/jobs/{job.json()['id']}/media", headers=key).status_code == 404


def test_uploaded_speech_is_transcribed_by_the_job_runner(
    up_settings: Settings, store: SqlJobStore, speech_wav: Path
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield speech_wav.read_bytes()

    settings = up_settings.model_copy(update={"upload_max_mb": 50})
    record = asyncio.run(
        save_upload(chunks(), owner="alice", filename="fox talk.wav", content_type="audio/wav", settings=settings)
    )
    submission = submit_job(record.ref, JobOptions(formats=("txt",)), owner="alice", store=store, settings=settings)
    assert submission.job.source_key.startswith("upload:alice:")
    claimed = store.claim(worker="test:1")
    assert claimed is not None and claimed.id == submission.job.id
    run_job(claimed, store=store, settings=settings)
    done = store.get(claimed.id)
    assert done is not None and done.state is JobState.SUCCEEDED, done
    assert done.title == "fox talk"
    artifact = store.artifact(done.id, "txt")
    assert artifact is not None and word_overlap(SPEECH_WORDS, artifact.data.decode()) >= 0.7
    # The same bytes uploaded again by the same key under the same name are answered from the cache.
    again = asyncio.run(
        save_upload(chunks(), owner="alice", filename="fox talk.wav", content_type="audio/wav", settings=settings)
    )
    hit = submit_job(again.ref, JobOptions(formats=("txt",)), owner="alice", store=store, settings=settings)
    assert hit.cache_hit and hit.job.state is JobState.SUCCEEDED and hit.job.source == again.ref


def test_old_uploads_are_purged(up_settings: Settings) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"RIFFdata"

    record = asyncio.run(
        save_upload(chunks(), owner="a", filename="a.wav", content_type="audio/wav", settings=up_settings)
    )
    assert purge_uploads_before(up_settings, cutoff=record.created_at - 60) == 0
    assert purge_uploads_before(up_settings, cutoff=record.created_at + 60) == 1
    with pytest.raises(Exception, match="No upload"):
        resolve_upload(record.ref, owner="a", settings=up_settings)
