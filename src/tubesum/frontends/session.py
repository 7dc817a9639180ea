"""What the Streamlit and desktop apps share: the user's request, a finished result, and how to get one.

A result is produced either in this process (:func:`run_local`, through :func:`tubesum.service.transcribe_source`
and :func:`tubesum.service.render`, all in memory) or by a tubesum server (:func:`run_remote`, through
:class:`tubesum.client.TubesumClient`); both hand back the same :class:`RunResult` with the transcript and every
requested format as a :class:`~tubesum.records.Rendered`, ready for download buttons or a "Save as…" dialog.

While a local run transcribes, ``run_local(..., on_segment=...)`` hands each segment to the app as it is decoded
(once, in order: :func:`tubesum.progress.emit_segment`), and :class:`LiveText` keeps the growing text in the same
``[mm:ss] text`` lines the finished transcript is shown in, so the apps can show the transcript as it grows.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from tubesum.config import OUTPUT_FORMATS, OutputFormat
from tubesum.errors import ApiError, ConfigError, InvalidUrlError, TubesumError, describe_validation
from tubesum.options import MAIN_FORM_FIELDS as MAIN_FIELDS
from tubesum.options import OptionField, RunOptions, first_error, form_values, resolve
from tubesum.options import advanced_fields as options_advanced_fields
from tubesum.progress import ProgressFn, Stage, no_progress
from tubesum.records import Rendered, Segment, Transcript
from tubesum.textfmt import timestamp

if TYPE_CHECKING:
    from tubesum.client import JobEvent, TubesumClient
    from tubesum.config import Settings
    from tubesum.jobs.types import JobOptions

__all__ = [
    "MAIN_FIELDS",
    "MODEL_CHOICES",
    "STAGE_LABELS",
    "Line",
    "LiveProgress",
    "LiveText",
    "OptionField",
    "RunRequest",
    "RunResult",
    "advanced_fields",
    "build_options",
    "describe_error",
    "format_line",
    "overall_fraction",
    "require_url",
    "run_local",
    "run_remote",
    "settings_problems",
    "stage_label",
    "transcript_lines",
    "transcript_text",
]

_T = TypeVar("_T")

#: Models offered in the pickers, smallest first (any other name or path works through settings).
MODEL_CHOICES: tuple[str, ...] = (
    "tiny.en",
    "tiny",
    "base.en",
    "base",
    "small.en",
    "small",
    "medium",
    "large-v3-turbo",
    "large-v3",
)

STAGE_LABELS: dict[str, str] = {
    "follow": "Waiting for an identical job",
    "ingest": "Reading metadata",
    "download": "Downloading audio",
    "captions": "Looking for subtitles",
    "decode": "Decoding audio",
    "load_model": "Loading the model",
    "transcribe": "Transcribing",
    "diarize": "Finding speakers",
    "summarize": "Summarizing",
    "write": "Writing outputs",
    "render": "Rendering",
}

# Share of the whole run each stage takes, roughly, so one bar can move steadily from 0 to 1.
_WEIGHTS: dict[str, float] = {
    "ingest": 0.02,
    "captions": 0.02,
    "download": 0.10,
    "decode": 0.04,
    "load_model": 0.04,
    "transcribe": 0.62,
    "diarize": 0.08,
    "summarize": 0.05,
    "write": 0.02,
    "render": 0.01,
}


def overall_fraction(stage: str, done: float, total: float | None) -> float:
    """Return how far the whole run is (0..1) when ``stage`` is ``done``/``total`` of the way."""
    before = 0.0
    for name, weight in _WEIGHTS.items():
        if name == stage:
            within = min(1.0, max(0.0, done / total)) if total else 0.0
            return min(1.0, before + weight * within)
        before += weight
    return 0.0


def advanced_fields(*, remote: bool) -> tuple[OptionField, ...]:
    """The options of an app's "Advanced" section (:func:`tubesum.options.advanced_fields`); for a server run
    only those the API takes (``JobOptions``)."""
    from tubesum.jobs.types import API_FIELDS

    return options_advanced_fields(API_FIELDS if remote else None)


def build_options(values: Mapping[str, Any]) -> RunOptions:
    """``RunOptions`` from a form's values (blank: use the setting); a bad value raises ``ConfigError`` naming it."""
    try:
        return RunOptions(**form_values(dict(values)))
    except ValidationError as exc:
        raise ConfigError(f"Invalid option: {first_error(exc)}") from None


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the user picked in a front end. ``source`` is a URL or, for uploads and opened files, a local path."""

    source: str
    options: RunOptions = field(default_factory=RunOptions)

    @property
    def model(self) -> str | None:
        return self.options.model

    def job_options(self) -> JobOptions:
        """The request as API job options (server runs); options a server does not take are refused."""
        from tubesum.jobs.types import JobOptions

        return JobOptions.from_run_options(self.options)


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished transcription: the transcript and every requested format as bytes."""

    transcript: Transcript
    files: dict[OutputFormat, Rendered]
    seconds: float
    where: str  # "this machine" or the server URL

    @property
    def label(self) -> str:
        return f"{self.transcript.title} ({self.transcript.duration or 0:.0f} s, {self.where})"


def settings_problems(exc: ValidationError) -> str:
    """Name each invalid setting and what is wrong with it, without its value (it may be a secret)."""
    return describe_validation(exc, where="settings")


def describe_error(exc: TubesumError) -> str:
    """Return the message, the hint and the stable code (the server's own code for API errors) for people."""
    code = exc.server_code if isinstance(exc, ApiError) else exc.code
    return exc.message + (f"\n\n{exc.hint}" if exc.hint else "") + f"\n\n(code: {code})"


@dataclass(frozen=True, slots=True)
class Line:
    """One segment as the apps show it."""

    start: float
    stamp: str  # mm:ss (h:mm:ss past the first hour)
    speaker: str | None
    text: str


def transcript_lines(transcript: Transcript) -> list[Line]:
    """Return the segments that hold text, with their display timestamps."""
    return [Line(s.start, timestamp(s.start), s.speaker, s.text.strip()) for s in transcript.segments if s.text.strip()]


def format_line(line: Line) -> str:
    """Return one line as ``[mm:ss] SPEAKER: text`` (the plain text views' format)."""
    return f"[{line.stamp}] {line.speaker + ': ' if line.speaker else ''}{line.text}"


def transcript_text(transcript: Transcript) -> str:
    """Return the transcript as ``[mm:ss] SPEAKER: text`` lines, for a plain text view."""
    return "\n".join(format_line(x) for x in transcript_lines(transcript)) or "(no speech)"


class LiveProgress:
    """A progress callable that also takes the segments as they are decoded (:class:`tubesum.progress.SegmentSink`).

    ``progress`` gets every progress call; ``on_segment`` gets each segment once, in order, on the thread that
    runs the pipeline (the Streamlit script thread, the desktop worker's thread).
    """

    def __init__(self, progress: ProgressFn, on_segment: Callable[[Segment], None]) -> None:
        self._progress = progress
        self._on_segment = on_segment

    def __call__(self, stage: Stage, done: float, total: float | None = None, /) -> None:
        self._progress(stage, done, total)

    def segment(self, segment: Segment, /) -> None:
        self._on_segment(segment)


@dataclass
class LiveText:
    """The transcript of a running job as it grows, in :func:`transcript_text`'s lines.

    ``add`` takes each segment and returns its line (None for a segment without text); ``take`` returns the whole
    text when it changed and at least ``min_interval`` seconds passed since the last ``take`` that returned it,
    so an app that redraws everything on each change (Streamlit) redraws a bounded number of times.
    """

    min_interval: float = 0.0
    segments: list[Segment] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    _changed: bool = False
    _taken_at: float = -math.inf

    def add(self, segment: Segment) -> str | None:
        self.segments.append(segment)
        text = segment.text.strip()
        if not text:
            return None
        line = format_line(Line(segment.start, timestamp(segment.start), segment.speaker, text))
        self.lines.append(line)
        self._changed = True
        return line

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def take(self, *, now: float | None = None) -> str | None:
        """The text if it changed since the last take and the interval has passed, else None."""
        now = time.monotonic() if now is None else now
        if not self._changed or now - self._taken_at < self.min_interval:
            return None
        self._changed, self._taken_at = False, now
        return self.text


def require_url(text: str, *, settings: Settings | None) -> str:
    """Accept a URL (or YouTube id) typed by a user, never a path on this machine (uploads are for files).

    With ``settings`` the URL is checked like the pipeline will check it; without (a server runs the job), the
    server checks it.
    """
    from tubesum.service import resolve_source

    text = text.strip()
    if not text:
        raise InvalidUrlError("Paste a YouTube (or media) URL first, or pick a file.")
    if settings is not None and resolve_source(text, settings=settings).source.kind == "file":
        raise InvalidUrlError(
            f"{text[:200]!r} is not a URL.", hint="Paste a YouTube or http(s) link; use the file picker for files."
        )
    return text


def run_local(
    request: RunRequest,
    *,
    settings: Settings,
    progress: ProgressFn = no_progress,
    on_segment: Callable[[Segment], None] | None = None,
) -> RunResult:
    """Transcribe in this process with the service layer; every format is rendered in memory.

    ``on_segment`` gets each Whisper segment once, in order, as it is decoded (live text); a transcript taken
    from the video's subtitles has no such segments, and diarization names speakers only in the final result.
    """
    from tubesum import service

    if on_segment is not None:
        progress = LiveProgress(progress, on_segment)
    started = time.perf_counter()
    effective = resolve(request.options, settings)
    source = service.resolve_source(request.source, settings=effective).source
    transcript = service.transcribe_source(source, settings=effective, progress=progress)
    layout = service.SubtitleLayout.from_settings(effective)
    files = _ordered(service.render(transcript, effective.formats, layout=layout))
    return RunResult(transcript, files, time.perf_counter() - started, "this machine")


def run_remote(
    request: RunRequest, *, client: TubesumClient, on_event: Callable[[JobEvent], None] | None = None
) -> RunResult:
    """Submit to a tubesum server, follow its progress events, then download every requested format."""
    from tubesum.client import error_from_problem
    from tubesum.jobs.types import JobState

    started = time.perf_counter()
    options = request.job_options()
    job = client.wait(client.submit(request.source, options).id, on_event=on_event)
    if job.state is not JobState.SUCCEEDED:
        error = job.error or {"code": "job_" + job.state.value, "message": f"The job was {job.state.value}."}
        raise error_from_problem(500, {"code": error.get("code"), "detail": error.get("message")})
    as_json = client.result(job.id, "json")  # the transcript, and the json download when it was asked for
    transcript = Transcript.from_dict(json.loads(as_json.data))
    wanted = _ordered(dict.fromkeys(options.formats or ()))
    files = {fmt: as_json if fmt == "json" else client.result(job.id, fmt) for fmt in wanted}
    return RunResult(transcript, files, time.perf_counter() - started, client.base_url)


def _ordered(files: Mapping[str, _T]) -> dict[OutputFormat, _T]:
    return {fmt: files[fmt] for fmt in OUTPUT_FORMATS if fmt in files}


def stage_label(stage: Stage | str) -> str:
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())
