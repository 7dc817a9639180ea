"""The desktop app's background work: one transcription per :class:`TranscribeWorker`, run in a ``QThread``.

The worker calls the service layer (:func:`tubesum.frontends.session.run_local`) and turns its progress callbacks
into Qt signals, so the GUI thread never blocks: ``progress`` for the bar and ``segment`` for each transcript
segment as it is decoded (once, in order), so the window can show the text growing. Cancelling sets a flag that
the next progress or segment callback turns into :class:`Cancelled`, which unwinds the pipeline (its temporary
directory is removed on the way out). A model that is not on this machine yet is downloaded first, with its
progress on the same bar.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from tubesum.errors import TubesumError
from tubesum.frontends.models import download_progress, ensure_model
from tubesum.frontends.session import RunRequest, overall_fraction, run_local, stage_label

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.records import Segment

__all__ = ["Cancelled", "TranscribeWorker", "start_worker"]

logger = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside the pipeline at a progress call after the user pressed Cancel."""


class TranscribeWorker(QObject):
    """Run one request; emits ``progress(text, fraction)`` and ``segment(Segment)`` while it runs, then exactly
    one of finished/failed/cancelled."""

    progress = Signal(str, float)
    segment = Signal(object)  # tubesum.records.Segment, as decoded
    finished = Signal(object)  # RunResult
    failed = Signal(str, str)  # code, message for people
    cancelled = Signal()

    def __init__(self, request: RunRequest, settings: Settings) -> None:
        super().__init__()
        self.request = request
        self.settings = settings
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next progress call (safe from any thread)."""
        self._cancel.set()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    def _on_progress(self, stage: str, done: float, total: float | None = None, /) -> None:
        self._check()
        self.progress.emit(stage_label(stage), overall_fraction(stage, done, total))

    def _on_segment(self, segment: Segment) -> None:
        self._check()
        self.segment.emit(segment)

    def _on_download(self, mb: float, total_mb: float | None) -> None:
        self._check()
        self.progress.emit(*download_progress(mb, total_mb))

    @Slot()
    def run(self) -> None:
        try:
            ensure_model(self.request.model or self.settings.model, settings=self.settings, report=self._on_download)
            self._check()
            result = run_local(
                self.request, settings=self.settings, progress=self._on_progress, on_segment=self._on_segment
            )
        except Cancelled:
            self.cancelled.emit()
        except TubesumError as exc:
            from tubesum.frontends.session import describe_error

            self.failed.emit(exc.code, describe_error(exc))
        except Exception as exc:  # never let a bug kill the thread silently
            logger.exception("desktop worker failed")
            self.failed.emit("internal_error", f"Unexpected error: {type(exc).__name__}: {exc}")
        else:
            self.finished.emit(result)


def start_worker(worker: TranscribeWorker) -> QThread:
    """Move ``worker`` to a new thread and start it; the thread quits when the worker is done."""
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    for signal in (worker.finished, worker.failed, worker.cancelled):
        signal.connect(thread.quit)
    thread.start()
    return thread
