"""``POST /v1/audio/transcriptions`` through the official ``openai`` SDK against a real ``tubesum serve`` (tiny.en on
CPU, real espeak speech, loopback), and with plain curl."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from conftest import SPEECH_WORDS, word_overlap
from servers import Server, openai_client, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("openai"), TUBESUM_UPLOADS_ENABLED="true", TUBESUM_UPLOAD_MAX_MB="1"
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai_client(server)


def test_json_and_text_answers(client: openai.OpenAI, speech_wav: Path) -> None:
    with speech_wav.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert word_overlap(SPEECH_WORDS, result.text) >= 0.6, result.text
    with speech_wav.open("rb") as audio:
        text = client.audio.transcriptions.create(model="tiny.en", file=audio, response_format="text")
    assert isinstance(text, str) and word_overlap(SPEECH_WORDS, text) >= 0.6, text


@pytest.mark.parametrize(("fmt", "marker"), [("srt", "-->"), ("vtt", "WEBVTT")])
def test_subtitle_answers(client: openai.OpenAI, speech_wav: Path, fmt: Any, marker: str) -> None:
    with speech_wav.open("rb") as audio:
        subs = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format=fmt)
    assert isinstance(subs, str) and marker in subs and word_overlap(SPEECH_WORDS, subs) >= 0.6


def test_verbose_json_with_words_and_segments(client: openai.OpenAI, speech_wav: Path, server: Server) -> None:
    with speech_wav.open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            language="en",
        )
    assert result.language == "en" and result.duration and result.duration > 3
    assert result.segments and result.segments[0].start >= 0 and result.segments[-1].end <= result.duration + 0.5
    assert result.words and {w.word.strip(".,").lower() for w in result.words} & SPEECH_WORDS
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    # Underneath it is a normal job of this key, visible in /v1/jobs.
    jobs = httpx.get(f"{server.base}/v1/jobs", headers=server.headers, timeout=10).json()
    assert any(j["state"] == "succeeded" and j["source"].startswith("upload:") for j in jobs["items"])


def test_errors_are_openai_errors_the_sdk_understands(client: openai.OpenAI, server: Server, speech_wav: Path) -> None:
    wrong = openai_client(server, api_key="tsk_wrong", timeout=30)
    with speech_wav.open("rb") as audio, pytest.raises(openai.AuthenticationError):
        wrong.audio.transcriptions.create(model="whisper-1", file=audio)
    with pytest.raises(openai.APIStatusError) as too_big:
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", b"\0" * (1024 * 1024 + 10)))
    assert too_big.value.status_code == 413 and too_big.value.body["code"] == "size_limit"  # type: ignore[index]
    uploads = Path(server.env["TUBESUM_DATA_DIR"]) / "uploads"
    before = set(uploads.iterdir())
    with speech_wav.open("rb") as audio, pytest.raises(openai.BadRequestError) as hot:
        client.audio.transcriptions.create(model="whisper-1", file=audio, temperature=1.5)
    assert hot.value.body["code"] == "unsupported_parameter"  # type: ignore[index]
    assert set(uploads.iterdir()) == before, "a refused request keeps no file"
    with speech_wav.open("rb") as audio, pytest.raises(openai.UnprocessableEntityError) as model:
        client.audio.transcriptions.create(model="/etc/passwd", file=audio)
    assert "/etc" not in str(model.value.body)


def test_curl_gets_openai_json(server: Server, speech_wav: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is required for this test (apt-get install curl)")
    form = ["-F", f"file=@{speech_wav}", "-F", "model=whisper-1", "-F", "response_format=json"]
    out = subprocess.run(
        [curl, "-sS", "-f", "-H", f"Authorization: {server.headers['Authorization']}", *form,
         f"{server.base}/v1/audio/transcriptions"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('{"text":') and word_overlap(SPEECH_WORDS, out.stdout) >= 0.6
