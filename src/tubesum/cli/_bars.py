"""Rich progress bars for the CLI: download in bytes, transcription in audio seconds (see ``cli.progress``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tubesum.progress import ProgressFn, Stage

__all__ = ["rich_bars"]

_LABELS: dict[Stage, str] = {
    "ingest": "Reading metadata",
    "download": "Downloading audio",
    "captions": "Looking for subtitles",
    "decode": "Decoding audio",
    "load_model": "Loading model",
    "transcribe": "Transcribing",
    "write": "Writing outputs",
}


class _AmountColumn(ProgressColumn):
    """Bytes for downloads, audio minutes:seconds for transcription."""

    _download = DownloadColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes":
            return self._download.render(task)
        if task.total is None or task.fields.get("unit") != "s":
            return Text("")
        return Text(f"{_clock(task.completed)}/{_clock(task.total)}", style="progress.download")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class _Bars:
    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.label = label
        self.tasks: dict[Stage, TaskID] = {}

    def __call__(self, stage: Stage, done: float, total: float | None = None, /) -> None:
        task = self.tasks.get(stage)
        if task is None:
            unit = {"download": "bytes", "decode": "s", "transcribe": "s"}.get(stage, "")
            fields: dict[str, Any] = {"unit": unit}
            task = self.progress.add_task(f"{_LABELS[stage]} {self.label}", total=total, **fields)
            self.tasks[stage] = task
        self.progress.update(task, completed=done, total=total)


@contextmanager
def rich_bars(label: str, console: Console) -> Iterator[ProgressFn]:
    """Yield a progress callback that draws one bar per stage on ``console`` (a terminal)."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        _AmountColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield _Bars(progress, label)
