"""Use cases every front end calls: turn a source into a transcript and write the outputs.

The CLI, the API worker and the UIs go through here; stages in ``tubesum.pipeline`` stay free of front-end
concerns. Usage::

    settings = Settings()
    outcome = transcribe("https://youtu.be/dQw4w9WgXcQ", settings=settings,
                         options=RunOptions(formats=("srt", "json")))
    print(outcome.files["srt"])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tubesum import __version__
from tubesum.files import ensure_writable_dir, job_workdir, write_atomic
from tubesum.options import RunOptions, resolve
from tubesum.outputs.subtitles import SubtitleLayout
from tubesum.pipeline import decode, models
from tubesum.pipeline.ingest import parse_source
from tubesum.pipeline.models import (
    DeviceChoice,
    LoadedModel,
    ResolvedModel,
    cached_models,
    clear_loaded_models,
    cuda_device_count,
    known_model_names,
    load_model,
    loaded_models,
    pull_model,
    resolve_model,
)
from tubesum.pipeline.transcribe import (
    DecodingPlan,
    SpeechResult,
    WhisperOptions,
    decoding_plan,
    transcribe_speech,
    transcribe_windows,
)
from tubesum.pipeline.upload_ref import UploadRecord, check_upload_enabled, is_upload, resolve_upload
from tubesum.progress import ProgressFn, no_progress
from tubesum.records import Audio, MediaInfo, Rendered, Source, Transcript

if TYPE_CHECKING:
    from tubesum.config import OutputFormat, Settings
    from tubesum.pipeline.decode import AudioWindow, DecodedAudio

__all__ = [
    "DecodingPlan",
    "DeviceChoice",
    "LoadedModel",
    "Rendered",
    "ResolvedModel",
    "ResolvedSource",
    "RunOptions",
    "RunPlan",
    "SubtitleLayout",
    "TranscribeOptions",
    "TranscriptionOutcome",
    "WhisperOptions",
    "cached_models",
    "clear_loaded_models",
    "cuda_device_count",
    "expand_sources",
    "known_model_names",
    "load_model",
    "loaded_models",
    "media_duration",
    "pull_model",
    "render",
    "resolve_model",
    "resolve_source",
    "run_plan",
    "sample_path",
    "shareable",
    "transcribe",
    "transcribe_source",
    "write_outputs",
]

logger = logging.getLogger(__name__)


#: Deprecated name of :class:`tubesum.options.RunOptions` (kept for callers of tubesum <= 0.x).
TranscribeOptions = RunOptions


@dataclass(frozen=True, slots=True)
class TranscriptionOutcome:
    transcript: Transcript
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    device: DeviceChoice | None = None  # None when the transcript came from captions


def sample_path() -> Path:
    """Return the bundled sample recording (a few seconds of synthetic English speech)."""
    return Path(str(resources.files("tubesum") / "data" / "sample.ogg"))


def expand_sources(texts: Sequence[str], *, settings: Settings) -> list[Source]:
    """Parse every input; playlist URLs expand to their videos (bounded by max_playlist_items)."""
    sources: list[Source] = []
    for text in texts:
        source = parse_source(text, settings)
        if source.kind == "youtube" and source.playlist_id and not source.video_id:
            from tubesum.pipeline import fetch  # yt-dlp: imported only for URLs (a file's start-up skips it)

            sources.extend(fetch.expand_playlist(source, settings=settings))
        else:
            sources.append(source)
    return sources


def transcribe(
    source: str | Source,
    *,
    settings: Settings,
    options: RunOptions | None = None,
    progress: ProgressFn = no_progress,
) -> TranscriptionOutcome:
    """Transcribe one source and write every requested format to the output directory."""
    started = time.perf_counter()
    effective = resolve(options, settings)
    output_dir = ensure_writable_dir(effective.output_dir)  # fail before any long work
    parsed = parse_source(source, effective) if isinstance(source, str) else source
    transcript, device = _run(parsed, settings=effective, progress=progress)
    files = write_outputs(
        transcript,
        formats=effective.formats,
        output_dir=output_dir,
        progress=progress,
        layout=SubtitleLayout.from_settings(effective),
    )
    return TranscriptionOutcome(
        transcript=transcript, files=files, seconds=time.perf_counter() - started, device=device
    )


def transcribe_source(source: Source, *, settings: Settings, progress: ProgressFn = no_progress) -> Transcript:
    """Run the pipeline for one parsed source: captions first when allowed, else audio → Whisper."""
    return _run(source, settings=settings, progress=progress)[0]


def _run(source: Source, *, settings: Settings, progress: ProgressFn) -> tuple[Transcript, DeviceChoice | None]:
    """Return the transcript (with speakers and summary when asked) and the device Whisper ran on, if it ran."""
    if settings.diarize:  # fail before any download or transcription: extra, token, model
        from tubesum.diarize.resolve import check_available

        check_available(settings)
    with job_workdir(settings.work_dir) as workdir:
        transcript, samples, device = _transcript(source, settings=settings, progress=progress, workdir=workdir)
        if settings.diarize:
            transcript = _with_speakers(transcript, samples, settings=settings, progress=progress)
    if settings.summarize:
        from tubesum.summarize.factory import summarize_transcript

        transcript = summarize_transcript(transcript, settings=settings, progress=progress)
    return _stamp(transcript), device


def _transcript(
    source: Source, *, settings: Settings, progress: ProgressFn, workdir: Path
) -> tuple[Transcript, DecodedAudio | None, DeviceChoice | None]:
    """Captions first when allowed, else audio → Whisper. Audio is decoded once, also for diarization."""
    if source.kind == "file":
        assert source.path is not None
        audio = Audio(path=source.path, source=source, info=MediaInfo(title=source.path.stem))
        if not settings.diarize:
            return _whispered_in_windows(audio, settings, progress)
        return _whispered(audio, _decode(audio, settings=settings, progress=progress), settings, progress)
    from tubesum.pipeline import fetch  # yt-dlp: imported only for URLs (a file's start-up skips it)
    from tubesum.pipeline.captions import captions_for_mode

    progress("ingest", 0, None)
    info = fetch.probe(source, settings=settings)
    progress("captions", 0, None)
    captioned = captions_for_mode(
        source, settings=settings, workdir=workdir, language=settings.language, progress=progress, info=info
    )
    if captioned is not None:
        logger.info("transcript from captions", extra={"source": source.label, "origin": captioned.origin})
        if not settings.diarize:
            return captioned, None, None
    if captioned is None and not settings.diarize and fetch.streamable(info):
        return _whispered_while_downloading(source, info, settings, progress, workdir)
    audio = fetch.fetch_audio(source, settings=settings, workdir=workdir, progress=progress, info=info)
    if captioned is None and not settings.diarize:
        return _whispered_in_windows(audio, settings, progress)
    samples = _decode(audio, settings=settings, progress=progress)
    if captioned is not None:  # speakers need the audio; the words come from the captions
        return captioned, samples, None
    return _whispered(audio, samples, settings, progress)


def _checked_duration(audio: Audio, *, settings: Settings) -> float | None:
    """Check the limits from the container header (nothing decoded yet); return the duration it states."""
    name = audio.path.name if audio.source.kind == "file" else audio.source.label
    duration = decode.probe_duration(audio.path)
    decode.check_duration(duration, max_duration=settings.max_duration, name=name)
    if audio.source.kind == "file":  # downloads were checked against the limit by fetch
        decode.check_size(audio.path.stat().st_size, max_mb=settings.max_filesize_mb, name=name)
    return duration


def _decode(audio: Audio, *, settings: Settings, progress: ProgressFn) -> DecodedAudio:
    """Check the limits from the container header, then decode to 16 kHz mono once (diarization needs it all)."""
    duration = _checked_duration(audio, settings=settings)
    progress("decode", 0, duration)
    samples = decode.decode_audio(audio.path)
    progress("decode", samples.duration, samples.duration)
    return samples


def _whispered_in_windows(
    audio: Audio, settings: Settings, progress: ProgressFn
) -> tuple[Transcript, None, DeviceChoice]:
    """Decode and transcribe in windows (:func:`decode.iter_windows`): peak memory does not grow with the
    length of the media, and cancellation is checked at least once per window.
    """
    duration = _checked_duration(audio, settings=settings)
    progress("decode", 0, duration)  # decoding streams along with the transcription from here on
    progress("load_model", 0, None)
    loaded = models.load_model(settings)
    progress("load_model", 1, 1)
    result = transcribe_windows(
        decode.iter_windows(audio.path, first_window_seconds=decode.FIRST_WINDOW_SECONDS),
        total=duration,
        model=loaded,
        options=WhisperOptions.from_settings(settings),
        progress=progress,
    )
    return _whisper_transcript(audio, result, loaded.resolved.name, duration=result.duration), None, loaded.device


def _whispered_while_downloading(
    source: Source, info: Mapping[str, Any], settings: Settings, progress: ProgressFn, workdir: Path
) -> tuple[Transcript, None, DeviceChoice]:
    """Decode and transcribe in windows while yt-dlp still downloads (:func:`fetch.stream_audio`).

    The model loads while the first bytes arrive; the duration limit is checked on the container header as
    soon as it is there, and again on what is decoded when the header states none. The transcript is the one
    :func:`_whispered_in_windows` gives for the finished file; the download's errors win over the decoder's.
    """
    from tubesum.pipeline import fetch

    with fetch.stream_audio(source, settings=settings, workdir=workdir, info=info) as stream:
        progress("download", 0, None)
        progress("load_model", 0, None)
        loaded = models.load_model(settings)
        progress("load_model", 1, 1)
        with stream.reader(progress=progress) as header:
            duration = decode.probe_duration(header)
        decode.check_duration(duration, max_duration=settings.max_duration, name=source.label)
        progress("decode", 0, duration)
        with stream.reader(progress=progress) as media:
            windows = decode.iter_windows(media, first_window_seconds=decode.FIRST_WINDOW_SECONDS)
            result = transcribe_windows(
                _within_duration(windows, settings=settings, name=source.label),
                total=duration,
                model=loaded,
                options=WhisperOptions.from_settings(settings),
                progress=progress,
            )
        audio = stream.audio()  # the download's error, if it failed after the decoder saw its last byte
    return _whisper_transcript(audio, result, loaded.resolved.name, duration=result.duration), None, loaded.device


def _within_duration(windows: Iterator[AudioWindow], *, settings: Settings, name: str) -> Iterator[AudioWindow]:
    """Pass the windows on, refusing media that turns out longer than ``max_duration`` (header without one)."""
    for window in windows:
        decode.check_duration(window.start + window.duration, max_duration=settings.max_duration, name=name)
        yield window


def _whispered(
    audio: Audio, samples: DecodedAudio, settings: Settings, progress: ProgressFn
) -> tuple[Transcript, DecodedAudio, DeviceChoice]:
    progress("load_model", 0, None)
    loaded = models.load_model(settings)
    progress("load_model", 1, 1)
    result = transcribe_speech(samples, model=loaded, options=WhisperOptions.from_settings(settings), progress=progress)
    transcript = _whisper_transcript(audio, result, loaded.resolved.name, duration=samples.duration)
    return transcript, samples, loaded.device


def _whisper_transcript(audio: Audio, result: SpeechResult, model: str, *, duration: float) -> Transcript:
    """The transcript of Whisper's ``result`` for ``audio`` (its duration filled in when the metadata had none)."""
    info = audio.info if audio.info.duration else replace(audio.info, duration=round(duration, 3))
    return Transcript(
        source=audio.source,
        segments=result.segments,
        language=result.language,
        language_probability=result.language_probability,
        origin="whisper",
        info=info,
        model=model,
        duration=round(duration, 3),
    )


def _with_speakers(
    transcript: Transcript, samples: DecodedAudio | None, *, settings: Settings, progress: ProgressFn
) -> Transcript:
    """Label segments and words with speakers found by pyannote in the already decoded audio."""
    from tubesum.diarize.assign import assign_speakers, parse_rename
    from tubesum.diarize.pyannote_backend import Diarizer

    assert samples is not None, "diarization always has decoded audio"
    progress("diarize", 0, None)
    turns = Diarizer.from_settings(settings).diarize(
        samples,
        num_speakers=settings.num_speakers,
        min_speakers=settings.min_speakers,
        max_speakers=settings.max_speakers,
    )
    segments = assign_speakers(transcript.segments, turns, rename=parse_rename(settings.speaker_names))
    progress("diarize", 1, 1)
    return replace(transcript, segments=segments, diarization=settings.diarization_model)


def shareable(transcript: Transcript) -> Transcript:
    """Return the transcript as a server hands it out and caches it: no server path, nothing of the caller's spelling.

    A local file's ``source.original`` becomes its display name (uploads are stored under it; it is also the
    title), and ``source.path`` goes: nothing in a result names where the server keeps the file. Public media
    (YouTube, URLs) are cached across API keys, so their source is reduced to the canonical URL: the caller's own
    spelling (share ``si=`` ids, ``t=`` offsets) does not reach another caller's result.
    """
    source = transcript.source
    if source.path is not None:
        return replace(transcript, source=replace(source, path=None, original=source.path.name))
    if source.url is not None:
        return replace(transcript, source=replace(source, original=source.url, start=None))
    return transcript


def _stamp(transcript: Transcript) -> Transcript:
    return replace(transcript, tubesum_version=__version__, created_at=datetime.now(UTC).isoformat(timespec="seconds"))


def write_outputs(
    transcript: Transcript,
    *,
    formats: Sequence[OutputFormat],
    output_dir: Path,
    progress: ProgressFn = no_progress,
    layout: SubtitleLayout | None = None,
) -> dict[str, Path]:
    """Render each format (:func:`render`, subtitles cut to ``layout``) and write it atomically as
    ``<safe title>-<video id>.<ext>``."""
    rendered = render(transcript, formats, layout=layout)
    files: dict[str, Path] = {}
    for done, (fmt, item) in enumerate(rendered.items()):
        files[fmt] = write_atomic(output_dir / item.filename, item.data)
        progress("write", done + 1, len(rendered))
    return files


# -- the surface every face and the job runner share: one source resolution, one render ---------------------


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """A validated source and, for an upload reference, the upload it names."""

    source: Source
    upload: UploadRecord | None = None


def resolve_source(
    text: str, *, settings: Settings, owner: str | None = None, remote: bool = False, resolve: bool = True
) -> ResolvedSource:
    """Turn what a caller typed into a :class:`Source`: the one place that says what a source may be.

    **Parameters:**

    * **text** - a URL, a YouTube id, a local path (local callers only) or ``upload:<id>``.
    * **owner** *(optional)* - the API key's owner; an upload reference resolves only for the owner who uploaded
      it (anything else is "not found").
    * **remote** *(optional)* - the text comes from a remote caller (the API, a queued job): never a path on this
      machine (one and the same ``invalid_url`` whatever exists there), uploads only while
      ``TUBESUM_UPLOADS_ENABLED`` is on (``uploads_disabled``), and only the owner's.
    * **resolve** *(optional)* - ``False`` classifies a generic URL without resolving its host now (submission
      time); the run resolves it again and the downloader checks every request.
    """
    if remote and is_upload(text):
        check_upload_enabled(settings)
        source, upload = resolve_upload(text, owner=owner or "", settings=settings)
        return ResolvedSource(source, upload)
    return ResolvedSource(parse_source(text, settings, remote=remote, resolve=resolve))


def render(
    transcript: Transcript,
    formats: Sequence[OutputFormat],
    *,
    progress: ProgressFn = no_progress,
    layout: SubtitleLayout | None = None,
) -> dict[str, Rendered]:
    """Render each distinct format in memory, in the order asked: ``{format: Rendered}`` (srt and vtt cues cut
    to ``layout``, the ``max_line_width``/``max_line_count`` options).

    Calls ``progress("render", done, total)`` before each format (a cancellation point for jobs). Raises
    ``OutputError`` for an unknown format and ``MissingExtraError`` for PDF without pycairo.
    """
    from tubesum import outputs

    wanted = tuple(dict.fromkeys(formats))
    rendered: dict[str, Rendered] = {}
    for done, fmt in enumerate(wanted):
        progress("render", done, len(wanted))
        data = outputs.render(transcript, fmt, layout=layout)
        rendered[fmt] = Rendered(fmt, outputs.CONTENT_TYPES[fmt], outputs.filename(transcript, fmt), data)
    progress("render", len(wanted), len(wanted))
    return rendered


# -- what a run would use, for tools that report it (tubesum bench) ------------------------------------------


@dataclass(frozen=True, slots=True)
class RunPlan:
    """The resolved model, the device choice and the decoding options a run with some settings uses."""

    model: ResolvedModel
    device: DeviceChoice
    options: WhisperOptions

    @property
    def decoding(self) -> DecodingPlan:
        """How faster-whisper is called: batched or not, text only or with timestamps, word timings."""
        return decoding_plan(self.options, self.device.device)

    @property
    def batched(self) -> bool:
        """Whether the run uses faster-whisper's batched pipeline."""
        return self.decoding.batched


def run_plan(settings: Settings) -> RunPlan:
    """Return what a Whisper run with ``settings`` uses, without loading the model."""
    resolved = resolve_model(settings.model, settings=settings)
    device = models.choose_device(settings.device, settings.compute_type)
    return RunPlan(resolved, device, WhisperOptions.from_settings(settings))


def media_duration(path: Path) -> float | None:
    """The duration a media file's container states (nothing decoded), or None."""
    return decode.probe_duration(path)
