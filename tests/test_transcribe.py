"""Real speech through the real tiny.en model: decode → load once → transcribe."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SPEECH_WORDS, word_overlap
from tubesum.config import Settings
from tubesum.errors import EmptyAudioError, TranscriptionError, UnsupportedMediaError
from tubesum.pipeline import decode, models
from tubesum.pipeline.transcribe import WhisperOptions, transcribe_speech


@pytest.fixture
def tiny(settings: Settings) -> models.LoadedModel:
    return models.load_model(settings)


def test_transcribe_speech_contains_the_spoken_words(speech_wav: Path, tiny: models.LoadedModel) -> None:
    calls: list[tuple[str, float, float | None]] = []
    result = transcribe_speech(
        decode.decode_audio(speech_wav),
        model=tiny,
        options=WhisperOptions(),
        progress=lambda *a: calls.append(a),
    )
    text = " ".join(s.text for s in result.segments)
    assert word_overlap(SPEECH_WORDS, text) >= 0.7, text
    assert result.language == "en"
    assert all(0 <= s.start < s.end <= result.duration + 0.5 for s in result.segments)
    # progress is reported in audio seconds and ends at the total
    assert calls[-1] == ("transcribe", result.duration, result.duration)
    assert all(stage == "transcribe" for stage, _, _ in calls)


@pytest.mark.parametrize("batched", ["on", "off"])
def test_word_timestamps_in_both_modes(speech_wav: Path, tiny: models.LoadedModel, batched: str) -> None:
    result = transcribe_speech(
        decode.decode_audio(speech_wav),
        model=tiny,
        options=WhisperOptions(word_timestamps=True, batched=batched),
    )
    words = [w for s in result.segments for w in s.words]
    assert result.batched is (batched == "on")
    assert len(words) >= 8
    assert all(w.start <= w.end for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert word_overlap(SPEECH_WORDS, " ".join(w.text for w in words)) >= 0.7


@pytest.mark.parametrize("name", ["speech.m4a", "speech.webm", "speech.mp4"])
def test_decode_reads_common_containers(make_media, name: str, speech_wav: Path) -> None:  # type: ignore[no-untyped-def]
    audio = decode.decode_audio(make_media(name))
    reference = decode.decode_audio(speech_wav)
    assert audio.sample_rate == 16_000
    assert abs(audio.duration - reference.duration) < 0.5


def test_model_is_loaded_once_per_process(settings: Settings) -> None:
    first = models.load_model(settings)
    again = models.load_model(settings.model_copy(update={"output_dir": Path("elsewhere")}))
    assert again is first
    assert first.device.device == "cpu" and first.device.compute_type == "int8"


def test_english_only_model_refuses_another_language(speech_wav: Path, tiny: models.LoadedModel) -> None:
    with pytest.raises(TranscriptionError, match="English only"):
        transcribe_speech(decode.decode_audio(speech_wav), model=tiny, options=WhisperOptions(language="de"))


def test_decode_refuses_non_media_and_empty_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 50)
    with pytest.raises(UnsupportedMediaError) as excinfo:
        decode.decode_audio(text)
    assert excinfo.value.code == "not_media"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudioError):
        decode.probe_duration(empty)


def test_zero_length_audio_is_refused(tmp_path: Path) -> None:
    import subprocess

    silent = tmp_path / "zero.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-t",
            "0",
            str(silent),
        ],
        check=True,
    )
    with pytest.raises(EmptyAudioError) as excinfo:
        decode.decode_audio(silent)
    assert excinfo.value.code == "empty_audio"
