"""deploy/serverless/runpod_handler.py: ``handler(job)`` called directly, with the real tiny.en model."""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import SPEECH_WORDS, word_overlap
from tubesum import errors
from tubesum.config import Settings

HANDLER = Path(__file__).resolve().parents[1] / "deploy" / "serverless" / "runpod_handler.py"
SAMPLE_WORDS = {"welcome", "sample", "recording", "transcribed", "computer", "network", "model", "format"}


@pytest.fixture(scope="module")
def runpod_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("runpod_handler", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as for `python runpod_handler.py`: pydantic resolves its annotations there
    spec.loader.exec_module(module)
    return module


def test_importing_the_handler_does_not_need_runpod(runpod_handler: ModuleType) -> None:
    assert "runpod" not in sys.modules
    assert callable(runpod_handler.handler)


def test_sample_is_transcribed_into_every_asked_format(runpod_handler: ModuleType, settings: Settings) -> None:
    job = {"id": "j1", "input": {"sample": True, "options": {"formats": ["txt", "srt", "json", "pdf"]}}}
    out = runpod_handler.handler(job, config=settings)
    assert "error" not in out, out
    assert set(out["outputs"]) == {"txt", "srt", "json"} and set(out["outputs_base64"]) == {"pdf"}
    assert word_overlap(SAMPLE_WORDS, out["outputs"]["txt"]) >= 0.6
    assert "-->" in out["outputs"]["srt"]
    assert json.loads(out["outputs"]["json"])["language"] == "en"
    assert base64.b64decode(out["outputs_base64"]["pdf"]).startswith(b"%PDF")
    assert out["model"] == "tiny.en" and out["origin"] == "whisper" and out["language"] == "en"
    assert out["duration"] > 5 and out["seconds"] > 0
    assert not settings.output_dir.exists() or not any(settings.output_dir.iterdir())  # returned, not written


def test_uploaded_audio_is_transcribed(runpod_handler: ModuleType, settings: Settings, speech_wav: Path) -> None:
    payload = base64.b64encode(speech_wav.read_bytes()).decode()
    job = {"id": "j2", "input": {"audio_base64": payload, "filename": "../../etc/talk.wav"}}
    out = runpod_handler.handler(job, config=settings)
    assert "error" not in out, out
    assert set(out["outputs"]) == {"txt", "srt", "vtt", "json", "md"}  # the API's default formats
    assert word_overlap(SPEECH_WORDS, out["outputs"]["txt"]) >= 0.6
    assert out["title"] == "upload"  # the caller's file name never becomes a path
    source = json.loads(out["outputs"]["json"])["source"]
    assert source["path"] is None and "/" not in source["original"], source  # no worker temp path (issue 19)


@pytest.mark.parametrize("model", ["/", "~", "/tmp", "../models"])
def test_callers_cannot_name_model_paths(runpod_handler: ModuleType, settings: Settings, model: str) -> None:
    out = runpod_handler.handler({"id": "m", "input": {"sample": True, "options": {"model": model}}}, config=settings)
    assert out["code"] == "model_not_found" and out["error"] == "This server does not offer that model."


@pytest.mark.parametrize(
    ("job_input", "where"),
    [
        ({}, "exactly one of source, audio_base64, sample (got none)"),
        ({"sample": True, "source": "https://youtu.be/dQw4w9WgXcQ"}, "got source, sample"),
        ({"source": "/etc/passwd"}, "source: Value error, must be an http(s) URL"),
        ({"source": "dQw4w9WgXcQ"}, "must be an http(s) URL"),
        ({"audio_base64": "not base64!"}, "audio_base64: Value error, is not valid base64"),
        ({"sample": True, "options": {"formats": ["docx"]}}, "options.formats.0"),
        ({"sample": True, "options": {"beam": 3}}, "options.beam: Extra inputs are not permitted"),
        ({"sample": True, "token": "x"}, "token: Extra inputs are not permitted"),
        (None, "input"),
    ],
)
def test_malformed_input_is_invalid_input(
    runpod_handler: ModuleType, settings: Settings, job_input: Any, where: str
) -> None:
    out = runpod_handler.handler({"id": "bad", "input": job_input}, config=settings)
    assert out["code"] == "invalid_input"
    assert where in out["error"]
    assert "outputs" not in out


def test_tubesum_errors_keep_their_stable_codes(runpod_handler: ModuleType, settings: Settings) -> None:
    out = runpod_handler.handler({"id": "u", "input": {"source": "https://example.com/talk.mp3"}}, config=settings)
    assert out["code"] == errors.GenericUrlNotAllowedError.code and out["hint"]
    small = settings.model_copy(update={"max_filesize_mb": 1})
    big = base64.b64encode(b"\0" * (2 * 1024 * 1024)).decode()
    out = runpod_handler.handler({"id": "s", "input": {"audio_base64": big}}, config=small)
    assert out["code"] == errors.SizeLimitError.code
    out = runpod_handler.handler(
        {"id": "m", "input": {"sample": True, "options": {"model": "large-v3"}}}, config=settings
    )
    assert out["code"] == errors.ModelNotFoundError.code and "tubesum models pull large-v3" in out["hint"]


def test_worker_image_lints_and_ships_this_handler() -> None:
    dockerfile = HANDLER.with_name("Dockerfile")
    tool = Path(sys.executable).with_name("hadolint")
    if tool.exists():
        result = subprocess.run([str(tool), str(dockerfile)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert "COPY deploy/serverless/runpod_handler.py /opt/tubesum-serverless/runpod_handler.py" in text
    assert '"python", "/opt/tubesum-serverless/runpod_handler.py"]' in text
    assert "models pull" in text  # the model is baked in: no download on a cold start
