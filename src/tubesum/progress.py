"""Progress reporting: stages call ``progress(stage, done, total)`` while they work.

Front ends turn the calls into progress bars (CLI), job state (API) or events (SSE). ``done`` and ``total``
are in the stage's own unit: bytes for ``download``, audio seconds for ``transcribe``; ``total`` may be None.

A progress callable may also take the transcript as it grows: when it has a ``segment(segment)`` method
(:class:`SegmentSink`), the transcription stage passes each segment to it once, in order, as it is decoded
(:func:`emit_segment`). Plain functions keep working: they just see no segments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    from tubesum.records import Segment

__all__ = ["STAGES", "ProgressFn", "SegmentSink", "Stage", "emit_segment", "no_progress"]

Stage = Literal[
    "follow",  # a job waits for an identical one to finish and takes its transcript (single flight)
    "ingest",
    "download",
    "captions",
    "decode",
    "load_model",
    "transcribe",
    "diarize",
    "summarize",
    "write",
    "render",
]
STAGES: tuple[Stage, ...] = get_args(Stage)


class ProgressFn(Protocol):
    def __call__(self, stage: Stage, done: float, total: float | None = None, /) -> None: ...


def no_progress(stage: Stage, done: float, total: float | None = None, /) -> None:
    """Ignore progress (the default when nobody is watching)."""


class SegmentSink(Protocol):
    def segment(self, segment: Segment, /) -> None: ...


def emit_segment(progress: object, segment: Segment) -> None:
    """Pass ``segment`` to ``progress.segment`` when the progress callable has one (live transcripts)."""
    sink = getattr(progress, "segment", None)
    if callable(sink):
        sink(segment)
