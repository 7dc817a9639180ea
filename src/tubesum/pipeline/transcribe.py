"""Speech to text with faster-whisper, streaming progress by audio seconds."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tubesum.errors import TranscriptionError
from tubesum.progress import ProgressFn, no_progress
from tubesum.records import Segment, Word

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.pipeline.decode import AudioWindow, DecodedAudio
    from tubesum.pipeline.models import LoadedModel

__all__ = ["SpeechResult", "WhisperOptions", "transcribe_speech", "transcribe_windows"]

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
    from tubesum.pipeline.decode import AudioWindow

    return transcribe_windows(
        [AudioWindow(start=0.0, samples=audio.samples)],
        total=audio.duration,
        model=model,
        options=options,
        progress=progress,
    )


def transcribe_windows(
    windows: Iterable[AudioWindow],
    *,
    total: float | None,
    model: LoadedModel,
    options: WhisperOptions,
    progress: ProgressFn = no_progress,
) -> SpeechResult:
    """Transcribe audio that arrives in windows (:func:`tubesum.pipeline.decode.iter_windows`).

    Memory is bounded by one window: its samples, speech detection and features. Every window starts with a
    progress call (a cancellation point: speech detection and feature extraction of a window take a second or
    two, not minutes), and segments report progress as they arrive. The language detected in the first window
    is kept for the rest, and each window is prompted with the end of the previous one's text.
    """
    language = options.language
    if language and model.resolved.name.endswith(".en") and language != "en":
        raise TranscriptionError(
            f"Model {model.resolved.name!r} understands English only, but language {language!r} was asked.",
            hint="Use a multilingual model (e.g. 'small') or drop --language.",
        )
    batched = _use_batched(options, model.device.device)
    segments: list[Segment] = []
    detected: str | None = None
    probability: float | None = None
    end = 0.0
    for window in windows:
        expected = max(total or 0.0, window.start + window.duration)
        progress("transcribe", min(window.start, expected), expected)
        prompt = " ".join(seg.text for seg in segments[-3:])[-200:] or None
        found, info = _transcribe_window(
            window, model=model, options=options, language=language, batched=batched, prompt=prompt,
            progress=lambda done, expected=expected: progress("transcribe", min(done, expected), expected),
        )  # fmt: skip
        segments.extend(found)
        if detected is None:
            detected = info.language
            probability = round(float(info.language_probability), 4) if info.language_probability is not None else None
            language = language or detected
        end = window.start + window.duration
    progress("transcribe", end, end)
    return SpeechResult(
        segments=tuple(segments), language=detected, language_probability=probability, duration=end, batched=batched
    )


def _transcribe_window(
    window: AudioWindow,
    *,
    model: LoadedModel,
    options: WhisperOptions,
    language: str | None,
    batched: bool,
    prompt: str | None,
    progress: Any,
) -> tuple[list[Segment], Any]:
    from faster_whisper import BatchedInferencePipeline

    kwargs: dict[str, Any] = {
        "language": language,
        "beam_size": options.beam_size,
        "word_timestamps": options.word_timestamps,
        "vad_filter": options.vad_filter,
    }
    if prompt and window.start > 0:
        kwargs["initial_prompt"] = prompt
    try:
        if batched:
            pipeline = BatchedInferencePipeline(model.model)
            raw_segments, info = pipeline.transcribe(
                window.samples, batch_size=options.batch_size, without_timestamps=False, **kwargs
            )
        else:
            raw_segments, info = model.model.transcribe(window.samples, **kwargs)
        found: list[Segment] = []
        for raw in raw_segments:  # lazy: the work happens while iterating
            found.append(_shifted(_segment(raw), window.start))
            progress(window.start + float(raw.end))
    except TranscriptionError:
        raise
    except (RuntimeError, ValueError) as exc:
        raise TranscriptionError(f"Whisper failed: {exc}", model=model.resolved.name) from exc
    return found, info


def _shifted(segment: Segment, offset: float) -> Segment:
    if not offset:
        return segment
    words = tuple(replace(w, start=round(w.start + offset, 3), end=round(w.end + offset, 3)) for w in segment.words)
    return replace(segment, start=round(segment.start + offset, 3), end=round(segment.end + offset, 3), words=words)


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
