"""Speech to text with faster-whisper, streaming progress by audio seconds."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tubesum.errors import EnglishOnlyModelError, TranscriptionError
from tubesum.progress import ProgressFn, no_progress
from tubesum.records import Segment, Word

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.pipeline.decode import AudioWindow, DecodedAudio
    from tubesum.pipeline.models import LoadedModel

__all__ = ["SpeechResult", "VadParameters", "WhisperOptions", "transcribe_speech", "transcribe_windows"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VadParameters:
    """Silero VAD parameters (faster-whisper's ``VadOptions``); None keeps faster-whisper's own default, which
    differs between sequential and batched inference."""

    threshold: float | None = None
    min_speech_duration_ms: int | None = None
    max_speech_duration_s: float | None = None
    min_silence_duration_ms: int | None = None
    speech_pad_ms: int | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """The parameters that are set (empty: let faster-whisper choose)."""
        return {name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None}


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """Decoding options for one transcription (defaults come from Settings; see its field docs)."""

    language: str | None = None
    task: str = "transcribe"
    word_timestamps: bool = False
    vad_filter: bool = True
    vad: VadParameters = VadParameters()
    beam_size: int = 5
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    initial_prompt: str | None = None
    hotwords: str | None = None
    condition_on_previous_text: bool = True
    hallucination_silence_threshold: float | None = None
    batched: str = "auto"
    batch_size: int = 8

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WhisperOptions:
        values: dict[str, Any] = {
            "language": settings.language,
            "task": settings.task,
            "word_timestamps": settings.word_timestamps,
            "vad_filter": settings.vad_filter,
            "vad": VadParameters(
                threshold=settings.vad_threshold,
                min_speech_duration_ms=settings.vad_min_speech_duration_ms,
                max_speech_duration_s=settings.vad_max_speech_duration_s,
                min_silence_duration_ms=settings.vad_min_silence_duration_ms,
                speech_pad_ms=settings.vad_speech_pad_ms,
            ),
            "beam_size": settings.beam_size,
            "temperature": settings.temperature,
            "initial_prompt": settings.initial_prompt,
            "hotwords": settings.hotwords,
            "condition_on_previous_text": settings.condition_on_previous_text,
            "hallucination_silence_threshold": settings.hallucination_silence_threshold,
            "batched": settings.batched,
            "batch_size": settings.batch_size,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def decode_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of faster-whisper's ``transcribe`` these options set (all but the prompt)."""
        kwargs: dict[str, Any] = {
            "task": self.task,
            "beam_size": self.beam_size,
            "temperature": list(self.temperature),
            "word_timestamps": self.word_timestamps,
            "condition_on_previous_text": self.condition_on_previous_text,
            "hallucination_silence_threshold": self.hallucination_silence_threshold,
            "hotwords": self.hotwords,
            "vad_filter": self.vad_filter,
        }
        if self.vad_filter and (vad := self.vad.as_kwargs()):
            kwargs["vad_parameters"] = vad
        return kwargs


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
    is kept for the rest. The first window is prompted with ``options.initial_prompt``; each later one with the
    end of the previous one's text, unless ``condition_on_previous_text`` is off (as whisper itself does).
    """
    language = options.language
    if language and model.resolved.name.endswith(".en") and language != "en":
        raise EnglishOnlyModelError(
            f"Model {model.resolved.name!r} understands English only, but language {language!r} was asked.",
            hint="Use a multilingual model (e.g. 'small') or drop --language.",
        )
    if options.task == "translate" and model.resolved.name.endswith(".en"):
        raise EnglishOnlyModelError(
            f"Model {model.resolved.name!r} understands English only: it cannot translate.",
            hint="Use a multilingual model (e.g. 'small') for task=translate, or transcribe.",
        )
    batched = _use_batched(options, model.device.device)
    segments: list[Segment] = []
    detected: str | None = None
    probability: float | None = None
    end = 0.0
    for window in windows:
        expected = max(total or 0.0, window.start + window.duration)
        progress("transcribe", min(window.start, expected), expected)
        prompt = _window_prompt(segments, options) if window.start > 0 else options.initial_prompt
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

    kwargs: dict[str, Any] = {"language": language, **options.decode_kwargs()}
    if prompt:
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


def _window_prompt(segments: list[Segment], options: WhisperOptions) -> str | None:
    """The prompt of a later window: the end of the text so far (none when conditioning is off)."""
    if not options.condition_on_previous_text:
        return None
    return " ".join(seg.text for seg in segments[-3:])[-200:] or None


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
