"""Progress reporting: stages call ``progress(stage, done, total)`` while they work.

Front ends turn the calls into progress bars (CLI), job state (API) or events (SSE). ``done`` and ``total``
are in the stage's own unit: bytes for ``download``, audio seconds for ``transcribe``; ``total`` may be None.
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

__all__ = ["STAGES", "ProgressFn", "Stage", "no_progress"]

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
