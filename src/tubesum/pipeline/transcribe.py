"""Speech to text with faster-whisper, streaming progress by audio seconds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tubesum.errors import TranscriptionError
from tubesum.progress import ProgressFn, no_progress
from tubesum.records import Segment, Word

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.pipeline.decode import DecodedAudio
    from tubesum.pipeline.models import LoadedModel

__all__ = ["SpeechResult", "WhisperOptions", "transcribe_speech"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """Decoding options for one transcription (defaults come from Settings)."""

    language: str | None = None
    word_timestamps: bool = False
    vad_filter: bool = True
    beam_size: int = 5
    batched: str = "auto"
    batch_size: int = 8

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WhisperOptions:
        values: dict[str, Any] = {
            "language": settings.language,
            "word_timestamps": settings.word_timestamps,
            "vad_filter": settings.vad_filter,
            "beam_size": settings.beam_size,
            "batched": settings.batched,
            "batch_size": settings.batch_size,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SpeechResult:
    segments: tuple[Segment, ...]
    language: str | None
    language_probability: float | None
    duration: float
    batched: bool


def _use_batched(options: WhisperOptions, device: str) -> bool:
    if not options.vad_filter or options.batched == "off":
        return False  # faster-whisper's batched pipeline cuts the audio with the VAD
    return options.batched == "on" or device == "cuda"


def transcribe_speech(
    audio: DecodedAudio, *, model: LoadedModel, options: WhisperOptions, progress: ProgressFn = no_progress
) -> SpeechResult:
    """Transcribe decoded audio, calling ``progress("transcribe", done_s, total_s)`` as segments arrive."""
    from faster_whisper import BatchedInferencePipeline

    language = options.language
    if language and model.resolved.name.endswith(".en") and language != "en":
        raise TranscriptionError(
            f"Model {model.resolved.name!r} understands English only, but language {language!r} was asked.",
            hint="Use a multilingual model (e.g. 'small') or drop --language.",
        )
    batched = _use_batched(options, model.device.device)
    kwargs: dict[str, Any] = {
        "language": language,
        "beam_size": options.beam_size,
        "word_timestamps": options.word_timestamps,
        "vad_filter": options.vad_filter,
    }
    try:
        if batched:
            pipeline = BatchedInferencePipeline(model.model)
            raw_segments, info = pipeline.transcribe(
                audio.samples, batch_size=options.batch_size, without_timestamps=False, **kwargs
            )
        else:
            raw_segments, info = model.model.transcribe(audio.samples, **kwargs)
        total = float(info.duration)
        progress("transcribe", 0.0, total)
        segments: list[Segment] = []
        for raw in raw_segments:  # lazy: the work happens while iterating
            segments.append(_segment(raw))
            progress("transcribe", min(float(raw.end), total), total)
    except TranscriptionError:
        raise
    except (RuntimeError, ValueError) as exc:
        raise TranscriptionError(f"Whisper failed: {exc}", model=model.resolved.name) from exc
    progress("transcribe", total, total)
    return SpeechResult(
        segments=tuple(segments),
        language=info.language,
        language_probability=round(float(info.language_probability), 4)
        if info.language_probability is not None
        else None,
        duration=total,
        batched=batched,
    )


def _segment(raw: Any) -> Segment:
    words = tuple(
        Word(
            start=round(float(w.start), 3),
            end=round(float(w.end), 3),
            text=w.word.strip(),
            probability=round(float(w.probability), 4),
        )
        for w in (raw.words or ())
    )
    return Segment(start=round(float(raw.start), 3), end=round(float(raw.end), 3), text=raw.text.strip(), words=words)
