"""Progress bars for the CLI: download in bytes, transcription in audio seconds; silent off a TTY.

rich (~0.08 s to import) is loaded only when the bars can be drawn: a piped, ``--quiet`` or ``--json`` run never
imports it. The test before importing it is conservative; rich's own ``Console.is_terminal`` has the last word.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from tubesum.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cli_progress", "may_be_terminal"]


def may_be_terminal(stream: IO[str]) -> bool:
    """False only where rich would find no terminal either: its ``Console.is_terminal`` rules (TTY_COMPATIBLE,
    FORCE_COLOR, then the stream's ``isatty``), less the cases where rich says no although these say yes."""
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    if (force_color := os.environ.get("FORCE_COLOR")) is not None:
        return force_color != ""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextmanager
def cli_progress(label: str, *, enabled: bool, console: Console | None = None) -> Iterator[ProgressFn]:
    """Yield a progress callback that draws bars on a terminal, or does nothing when disabled/not a TTY."""
    if not enabled or (console is None and not may_be_terminal(sys.stderr)):
        yield no_progress
        return
    from rich.console import Console

    from tubesum.cli._bars import rich_bars

    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield no_progress
        return
    with rich_bars(label, console) as bars:
        yield bars
