"""The desktop app's background work: one transcription per :class:`TranscribeWorker`, run in a ``QThread``.

The worker calls the service layer (:func:`tubesum.frontends.session.run_local`) and turns its progress callbacks
into Qt signals, so the GUI thread never blocks. Cancelling sets a flag that the next progress callback turns into
:class:`Cancelled`, which unwinds the pipeline (its temporary directory is removed on the way out). A model that
is not on this machine yet is downloaded first, with its progress on the same bar.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from tubesum.errors import ModelNotFoundError, TubesumError
from tubesum.frontends.session import RunRequest, overall_fraction, run_local, stage_label

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = ["APPROX_MODEL_MB", "Cancelled", "TranscribeWorker", "ensure_model", "model_is_local", "start_worker"]

logger = logging.getLogger(__name__)

#: Download sizes of the CTranslate2 models (MB, rounded up), for the first-run progress bar.
APPROX_MODEL_MB: dict[str, int] = {
    "tiny": 76,
    "tiny.en": 76,
    "base": 146,
    "base.en": 146,
    "small": 486,
    "small.en": 486,
    "medium": 1530,
    "medium.en": 1530,
    "large-v3": 3100,
    "large-v3-turbo": 1620,
}
_POLL_SECONDS = 0.5


class Cancelled(Exception):
    """Raised inside the pipeline at a progress call after the user pressed Cancel."""


def model_is_local(name: str, *, settings: Settings) -> bool:
    """Return whether ``name`` loads without a download (model cache, local path, or bundled like tiny.en)."""
    from tubesum.pipeline.models import resolve_model

    try:
        resolve_model(name, settings=settings)
    except ModelNotFoundError:
        return False
    return True


def ensure_model(name: str, *, settings: Settings, report: Callable[[float, float | None], None]) -> None:
    """Download ``name`` into the model cache unless it is already on this machine; ``report(mb, total_mb)``."""
    from tubesum.pipeline.models import known_model_names, pull_model

    if model_is_local(name, settings=settings) or name not in known_model_names():
        return  # unknown names and bad paths fail later with the resolver's own message
    outcome: list[BaseException] = []

    def pull() -> None:
        try:
            pull_model(name, settings=settings)
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append(exc)

    logger.info("downloading model", extra={"model": name})
    thread = threading.Thread(target=pull, name=f"pull-{name}", daemon=True)
    before = _size_mb(settings.model_cache_dir)
    thread.start()
    while thread.is_alive():
        report(_size_mb(settings.model_cache_dir) - before, APPROX_MODEL_MB.get(name))
        thread.join(_POLL_SECONDS)
    if outcome:
        raise outcome[0]


def _size_mb(root: Path) -> float:
    if not root.is_dir():
        return 0.0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


class TranscribeWorker(QObject):
    """Run one request; emits ``progress(text, fraction)`` then exactly one of finished/failed/cancelled."""

    progress = Signal(str, float)
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

    def _on_download(self, mb: float, total_mb: float | None) -> None:
        self._check()
        fraction = min(0.99, mb / total_mb) if total_mb else 0.0
        of = f" of ~{total_mb:.0f}" if total_mb else ""
        self.progress.emit(f"Downloading the model (first run): {mb:.0f}{of} MB", fraction)

    @Slot()
    def run(self) -> None:
        try:
            ensure_model(self.request.model or self.settings.model, settings=self.settings, report=self._on_download)
            self._check()
            result = run_local(self.request, settings=self.settings, progress=self._on_progress)
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
