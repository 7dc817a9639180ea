"""What the Streamlit and desktop apps share: the user's request, a finished result, and how to get one.

A result is produced either in this process (:func:`run_local`, through :func:`tubesum.service.transcribe_source`
and :func:`tubesum.service.render`, all in memory) or by a tubesum server (:func:`run_remote`, through
:class:`tubesum.client.TubesumClient`); both hand back the same :class:`RunResult` with the transcript and every
requested format as a :class:`~tubesum.records.Rendered`, ready for download buttons or a "Save as…" dialog.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tubesum.config import OUTPUT_FORMATS, OutputFormat
from tubesum.errors import ApiError, InvalidUrlError, TubesumError, describe_validation
from tubesum.progress import ProgressFn, Stage, no_progress
from tubesum.records import Rendered, Transcript
from tubesum.textfmt import timestamp

if TYPE_CHECKING:
    from pydantic import ValidationError

    from tubesum.client import JobEvent, TubesumClient
    from tubesum.config import Settings
    from tubesum.jobs.types import JobOptions
    from tubesum.service import TranscribeOptions

__all__ = [
    "MODEL_CHOICES",
    "STAGE_LABELS",
    "Line",
    "RunRequest",
    "RunResult",
    "describe_error",
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


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the user picked in a front end. ``source`` is a URL or, for uploads and opened files, a local path."""

    source: str
    model: str | None = None
    language: str | None = None
    formats: tuple[OutputFormat, ...] = ("txt", "srt", "vtt", "json", "md")
    diarize: bool = False
    summarize: bool = False

    def _choices(self) -> dict[str, Any]:
        return {
            "model": self.model or None,
            "language": self.language or None,
            "formats": self.formats,
            "diarize": self.diarize,
            "summarize": self.summarize,
        }

    def options(self) -> TranscribeOptions:
        """The request as service-layer options (in-process runs)."""
        from tubesum.service import TranscribeOptions

        return TranscribeOptions(**self._choices())

    def job_options(self) -> JobOptions:
        """The request as API job options (server runs)."""
        from tubesum.jobs.types import JobOptions

        return JobOptions(**self._choices())


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


def transcript_text(transcript: Transcript) -> str:
    """Return the transcript as ``[mm:ss] SPEAKER: text`` lines, for a plain text view."""
    lines = transcript_lines(transcript)
    return "\n".join(f"[{x.stamp}] {x.speaker + ': ' if x.speaker else ''}{x.text}" for x in lines) or "(no speech)"


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


def run_local(request: RunRequest, *, settings: Settings, progress: ProgressFn = no_progress) -> RunResult:
    """Transcribe in this process with the service layer; every format is rendered in memory."""
    from tubesum import service

    started = time.perf_counter()
    effective = request.options().effective(settings)
    source = service.resolve_source(request.source, settings=effective).source
    transcript = service.transcribe_source(source, settings=effective, progress=progress)
    files = _ordered(service.render(transcript, effective.formats))
    return RunResult(transcript, files, time.perf_counter() - started, "this machine")


def run_remote(
    request: RunRequest, *, client: TubesumClient, on_event: Callable[[JobEvent], None] | None = None
) -> RunResult:
    """Submit to a tubesum server, follow its progress events, then download every requested format."""
    from tubesum.client import error_from_problem
    from tubesum.jobs.types import JobState

    started = time.perf_counter()
    job = client.wait(client.submit(request.source, request.job_options()).id, on_event=on_event)
    if job.state is not JobState.SUCCEEDED:
        error = job.error or {"code": "job_" + job.state.value, "message": f"The job was {job.state.value}."}
        raise error_from_problem(500, {"code": error.get("code"), "detail": error.get("message")})
    as_json = client.result(job.id, "json")  # the transcript, and the json download when it was asked for
    transcript = Transcript.from_dict(json.loads(as_json.data))
    wanted = _ordered(dict.fromkeys(request.formats))
    files = {fmt: as_json if fmt == "json" else client.result(job.id, fmt) for fmt in wanted}
    return RunResult(transcript, files, time.perf_counter() - started, client.base_url)


def _ordered(files: Mapping[str, _T]) -> dict[OutputFormat, _T]:
    return {fmt: files[fmt] for fmt in OUTPUT_FORMATS if fmt in files}


def stage_label(stage: Stage | str) -> str:
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())
