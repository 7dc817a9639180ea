"""Speech to text with faster-whisper, streaming progress by audio seconds."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from tubesum.errors import EnglishOnlyModelError, TranscriptionError
from tubesum.pipeline.resegment import split_words
from tubesum.progress import ProgressFn, emit_segment, no_progress
from tubesum.records import Segment, Word

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.pipeline.decode import AudioWindow, DecodedAudio
    from tubesum.pipeline.models import LoadedModel

__all__ = [
    "DecodingPlan",
    "SpeechResult",
    "VadParameters",
    "WhisperOptions",
    "decoding_plan",
    "transcribe_speech",
    "transcribe_windows",
]

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


@dataclass(frozen=True, slots=True)
class DecodingPlan:
    """How faster-whisper is called for a set of options on a device (docs/performance.md has the figures).

    ``batched``: faster-whisper's ``BatchedInferencePipeline`` (needs the VAD: it decodes speech chunks of up
    to 30 s side by side). ``without_timestamps``: the model samples text tokens only. Measured on the espeak
    corpus and on real speech (tiny.en, CPU; ``benchmarks/decoding_variants.py``), batched decoding with segment
    timestamps lost words (WER 0.111 on 5 min of espeak, 0.087 on real speech), and still did (0.088 / 0.076)
    when each chunk's unfinished end was kept and decoded again (:mod:`tubesum.pipeline.batched_forward`), at more
    CPU than text-only; batched decoding of text only kept every word (0.067 / 0.054) and was the fastest.
    A text-only chunk is one run of up to 30 s of text, which :func:`~tubesum.pipeline.batched_forward.
    forward_keeping_tail` cuts into sentences timed from their share of the text and the VAD's pauses (boundaries
    0.06 s from word-aligned ones in the median, 0.4 s at most, on real speech; 0.15 s median on espeak), at the
    CPU of the bare call (10.7 s against 10.6 s, medians of 3 on 5 min of espeak). Word alignment
    (``word_timestamps``) cost 9 % more (11.6 s) and is done only when the user asks for words, which then also
    time the sentence cuts (:mod:`tubesum.pipeline.resegment`).
    With ``batched="auto"`` an initial prompt or hotwords choose sequential decoding: text-only batched decoding
    did not follow a prompt (tiny.en kept mishearing the prompted name "Siobhan", which sequential decoding
    spells; tests/test_decoding.py).
    """

    batched: bool
    without_timestamps: bool
    word_timestamps: bool


def decoding_plan(options: WhisperOptions, device: str) -> DecodingPlan:
    """Choose the faster-whisper call for ``options`` on ``device`` (``batched="auto"``: batched on every device,
    unless a prompt or hotwords ask for sequential decoding, which follows them)."""
    prompted = bool(options.initial_prompt or options.hotwords)
    wanted = options.batched == "on" or (options.batched == "auto" and not prompted)
    batched = options.vad_filter and wanted  # the batched pipeline cuts the audio with the VAD
    return DecodingPlan(
        batched=batched,
        without_timestamps=batched,
        word_timestamps=options.word_timestamps,
    )


def transcribe_speech(
    audio: DecodedAudio, *, model: LoadedModel, options: WhisperOptions, progress: ProgressFn = no_progress
) -> SpeechResult:
    """Transcribe decoded audio, calling ``progress("transcribe", done_s, total_s)`` as segments arrive.

    Each segment also goes to ``progress.segment(segment)`` when ``progress`` has that method
    (:func:`tubesum.progress.emit_segment`): live transcripts.
    """
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
    two, not minutes), and segments report progress as they arrive, each passed on to
    :func:`~tubesum.progress.emit_segment` once, in order. The language detected in the first window is kept
    for the rest. The first window is prompted with ``options.initial_prompt``; each later one with the end of
    the previous one's text, unless ``condition_on_previous_text`` is off (as whisper itself does).
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
    plan = decoding_plan(options, model.device.device)
    segments: list[Segment] = []
    detected: str | None = None
    probability: float | None = None
    end = 0.0
    for window in windows:
        expected = max(total or 0.0, window.start + window.duration)
        progress("transcribe", min(window.start, expected), expected)
        prompt = _window_prompt(segments, options) if window.start > 0 else options.initial_prompt

        def found(segment: Segment, expected: float = expected) -> None:
            segments.append(segment)
            emit_segment(progress, segment)
            progress("transcribe", min(segment.end, expected), expected)

        info = _transcribe_window(
            window, model=model, options=options, language=language, plan=plan, prompt=prompt, found=found
        )
        if detected is None:
            detected = info.language
            probability = round(float(info.language_probability), 4) if info.language_probability is not None else None
            language = language or detected
        end = window.start + window.duration
    progress("transcribe", end, end)
    return SpeechResult(
        segments=tuple(segments),
        language=detected,
        language_probability=probability,
        duration=end,
        batched=plan.batched,
    )


def _transcribe_window(
    window: AudioWindow,
    *,
    model: LoadedModel,
    options: WhisperOptions,
    language: str | None,
    plan: DecodingPlan,
    prompt: str | None,
    found: Callable[[Segment], None],
) -> Any:
    """Decode one window, calling ``found`` with each segment (shifted to the window) as it is decoded."""
    kwargs: dict[str, Any] = {"language": language, **options.decode_kwargs(), "word_timestamps": plan.word_timestamps}
    if prompt and (window.start == 0 or not plan.batched):
        # The user's initial prompt goes to the first window. The previous window's text does not go to batched
        # decoding: it would reach every chunk of the window, not just the first (measured on the 5-minute corpus
        # with a 30 s first window, WER 0.133 with it against 0.067 without).
        kwargs["initial_prompt"] = prompt
    try:
        if plan.batched:
            raw_segments, info = _batched_pipeline(model.model, batch_size=options.batch_size).transcribe(
                window.samples, batch_size=options.batch_size, without_timestamps=plan.without_timestamps, **kwargs
            )
        else:
            raw_segments, info = model.model.transcribe(window.samples, **kwargs)
        for raw in raw_segments:  # lazy: the work happens while iterating
            for segment in _segments(raw, plan):
                found(_shifted(segment, window.start))
    except TranscriptionError:
        raise
    except (RuntimeError, ValueError) as exc:
        raise TranscriptionError(f"Whisper failed: {exc}", model=model.resolved.name) from exc
    return info


def _batched_pipeline(whisper: Any, *, batch_size: int = 0) -> Any:
    """faster-whisper's batched pipeline, decoding its first speech chunk alone before batching the rest.

    The pipeline yields nothing until its first batch is decoded: with 8 chunks of up to 30 s that is minutes
    of audio. Decoding the first chunk as a batch of one puts the first words on screen after one chunk's work
    (live transcripts); the rest is batched as before. Every batch goes through
    :func:`~tubesum.pipeline.batched_forward.forward_keeping_tail` (sentence-sized segments of text-only
    chunks). Falls back to the plain pipeline when faster-whisper's generator changes shape.

    With ``batch_size``, batches go through the model's :class:`~tubesum.pipeline.cross_batch.CrossBatcher`:
    jobs decoding at the same time with the same model and options share model calls of up to ``batch_size``
    chunks (cross-job batching). Not with word timestamps: faster-whisper's word alignment carries state from
    one call to the next (``last_speech_timestamp``), which must not mix jobs.
    """
    from faster_whisper import BatchedInferencePipeline

    from tubesum.pipeline.batched_forward import forward_keeping_tail
    from tubesum.pipeline.cross_batch import batcher_for

    def shared_forward() -> Any:
        leader = BatchedInferencePipeline(whisper)
        return lambda features, tokenizer, chunks, options: forward_keeping_tail(
            leader, features, tokenizer, chunks, options
        )

    batcher = batcher_for(whisper, max_rows=batch_size, forward=shared_forward) if batch_size else None

    class FirstChunkFirst(BatchedInferencePipeline):  # type: ignore[misc]
        def forward(self, features: Any, tokenizer: Any, chunks_metadata: Any, options: Any) -> Any:
            if batcher is None or options.word_timestamps:
                return forward_keeping_tail(self, features, tokenizer, chunks_metadata, options)
            return batcher.submit(features, tokenizer, chunks_metadata, options)

        def _batched_segments_generator(
            self, features: Any, tokenizer: Any, chunks: Any, batch_size: int, options: Any, log_progress: bool
        ) -> Iterator[Any]:
            generate = super()._batched_segments_generator
            if len(features) <= 1 or batch_size <= 1:
                yield from generate(features, tokenizer, chunks, batch_size, options, log_progress)
                return
            yield from generate(features[:1], tokenizer, chunks[:1], 1, options, log_progress)
            yield from generate(features[1:], tokenizer, chunks[1:], batch_size, options, log_progress)

    if not hasattr(BatchedInferencePipeline, "_batched_segments_generator"):
        return BatchedInferencePipeline(whisper)
    return FirstChunkFirst(whisper)


def _segments(raw: Any, plan: DecodingPlan) -> Iterator[Segment]:
    """The segments of one faster-whisper segment: itself, or (text-only decoding with word timings) its
    sentences; text-only decoding without them comes already cut by the batched forward."""
    if not (plan.without_timestamps and raw.words):
        yield _segment(raw)
        return
    for words in split_words(raw.words):
        text = "".join(w.word for w in words).strip()
        yield _segment(SimpleNamespace(start=words[0].start, end=words[-1].end, text=text, words=words))


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
