"""``/v1/models`` through the official ``openai`` SDK against a real ``tubesum serve`` (tiny.en, loopback)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from servers import openai_client, running_server


def test_the_openai_sdk_lists_and_retrieves_models(tmp_path: Path) -> None:
    with running_server(tmp_path, TUBESUM_API_MODELS="tiny.en,base,Systran/faster-whisper-small") as srv:
        client = openai_client(srv, timeout=30)
        models = {m.id: m for m in client.models.list()}
        assert list(models) == ["whisper-1", "tiny.en", "base", "Systran/faster-whisper-small"]
        tiny = models["tiny.en"].model_dump()
        assert tiny["object"] == "model" and tiny["available"] and tiny["english_only"] and tiny["default"]
        assert models["whisper-1"].model_dump()["default"], "whisper-1 is the configured model"
        assert not models["base"].model_dump()["available"]  # allowed, but not downloaded on this server
        assert client.models.retrieve("Systran/faster-whisper-small").id == "Systran/faster-whisper-small"
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve("/etc/passwd")
        assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
        wrong = openai_client(srv, api_key="tsk_wrong", timeout=30)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
