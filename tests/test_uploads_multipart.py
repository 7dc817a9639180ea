"""``POST /v1/uploads`` with a multipart form (``file`` part), the way curl -F, browsers and SDKs send files.

In-process with httpx's own multipart encoder, and against a real ``tubesum serve`` with the real curl.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from inprocess import client_for, migrated_store
from servers import running_server
from tubesum.config import Settings


@pytest.fixture
def up_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"data_dir": tmp_path / "data", "rate_limit_per_minute": 0, "uploads_enabled": True, "upload_max_mb": 1}
    )


@pytest.fixture
def client_and_key(up_settings: Settings) -> Iterator[tuple[TestClient[Any], dict[str, str]]]:
    store = migrated_store(up_settings)
    _, token = store.create_key("alice")
    with client_for(up_settings, store) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def test_a_multipart_file_part_is_stored_with_its_name_and_type(
    client_and_key: tuple[TestClient[Any], dict[str, str]], speech_wav: Path, up_settings: Settings
) -> None:
    client, key = client_and_key
    data = speech_wav.read_bytes()
    response = client.post(
        "/v1/uploads",
        headers=key,
        data={"model": "whisper-1", "language": "en"},  # fields beside the file are read and dropped
        files={"file": ("my talk.wav", data, "audio/wav")},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filename"] == "my talk.wav" and body["content_type"] == "audio/wav" and body["size"] == len(data)
    assert (up_settings.upload_dir / body["id"] / "my talk.wav").read_bytes() == data
    job = client.post("/v1/jobs", json={"source": body["source"]}, headers=key)
    assert job.status_code == 202, job.text


@pytest.mark.parametrize(
    ("files", "data", "status", "code"),
    [
        ({"audio": ("a.wav", b"RIFF", "audio/wav")}, None, 400, "invalid_body"),  # no `file` part
        (None, {"file": "just text"}, 400, "invalid_body"),  # a field, not a file
        ({"file": ("notes.txt", b"hello", "text/plain")}, None, 415, "not_media"),
        ({"file": ("big.wav", b"\0" * (1024 * 1024 + 1), "audio/wav")}, None, 413, "size_limit"),
    ],
)
def test_bad_multipart_uploads_are_refused_and_nothing_is_kept(
    client_and_key: tuple[TestClient[Any], dict[str, str]],
    up_settings: Settings,
    files: Any,
    data: Any,
    status: int,
    code: str,
) -> None:
    client, key = client_and_key
    response = client.post("/v1/uploads", headers=key, files=files, data=data)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert not up_settings.upload_dir.exists() or not any(up_settings.upload_dir.iterdir())


def test_a_truncated_multipart_body_is_400_and_nothing_is_kept(
    client_and_key: tuple[TestClient[Any], dict[str, str]], up_settings: Settings
) -> None:
    client, key = client_and_key
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF'
    )
    response = client.post(
        "/v1/uploads", headers={**key, "Content-Type": "multipart/form-data; boundary=XyZ"}, content=body
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_body"
    assert not up_settings.upload_dir.exists() or not any(up_settings.upload_dir.iterdir())


def test_a_raw_body_still_needs_a_filename(client_and_key: tuple[TestClient[Any], dict[str, str]]) -> None:
    client, key = client_and_key
    response = client.post("/v1/uploads", headers={**key, "Content-Type": "audio/wav"}, content=b"RIFF")
    assert response.status_code == 400 and "filename" in response.text, response.text


def test_curl_form_upload_to_a_real_server(tmp_path: Path, speech_wav: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is required for this test (apt-get install curl)")
    with running_server(tmp_path, TUBESUM_UPLOADS_ENABLED="true") as srv:
        auth = srv.headers["Authorization"]
        out = subprocess.run(
            [curl, "-sS", "-f", "-H", f"Authorization: {auth}", "-F", f"file=@{speech_wav};type=audio/wav",
             f"{srv.base}/v1/uploads"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert '"filename":"speech.wav"' in out.stdout.replace(" ", "")
