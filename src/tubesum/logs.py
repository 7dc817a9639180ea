"""Structured logging: structlog renders every record (ours, yt-dlp's, faster-whisper's) as JSON or console.

Modules log with the standard library (``logging.getLogger(__name__)``, extras as fields); this module turns
those records into structlog events. Values whose key looks secret are masked before rendering.

structlog is imported on the first record that reaches the handler, not when logging is configured: importing it
loads its console renderer's rich and pygments too (~0.15 s), which a CLI run that logs nothing (the usual
``tubesum transcribe``) never needs. A process that already imported structlog (the API) is configured at once.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["configure_logging", "redact"]

_SECRET_KEY = re.compile(r"(token|secret|password|passwd|api[_-]?key|authorization|cookie)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"\b(hf_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_-]{8,})\b")
_MASK = "***"


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Mask values under secret-looking keys and token-shaped strings anywhere in the event."""
    for key, value in list(event.items()):
        if _SECRET_KEY.search(key) and value not in (None, "", False):
            event[key] = _MASK
        elif isinstance(value, str):
            event[key] = _SECRET_VALUE.sub(_MASK, value)
    return event


class _DeferredFormatter(logging.Formatter):
    """Builds the real formatter (structlog's) on the first record it formats.

    ``Handler.handle`` holds the handler's lock around ``format``, so two threads never build it twice.
    """

    def __init__(self, build: Callable[[], logging.Formatter]) -> None:
        super().__init__()
        self._build: Callable[[], logging.Formatter] | None = build
        self._real: logging.Formatter | None = None

    def real(self) -> logging.Formatter:
        if self._real is None:
            assert self._build is not None
            self._real, self._build = self._build(), None
        return self._real

    def format(self, record: logging.LogRecord) -> str:
        return self.real().format(record)


def configure_logging(*, level: str = "INFO", fmt: str = "auto", stream: IO[str] | None = None) -> None:
    """Route stdlib logging through structlog; ``fmt`` is json, console or auto (TTY → console)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    colors = fmt == "console" and stream.isatty()
    formatter = _DeferredFormatter(lambda: _structlog_formatter(fmt, colors=colors))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty libraries stay at WARNING unless we debug.
    for name in ("faster_whisper", "httpx", "huggingface_hub", "urllib3"):
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")
    if "structlog" in sys.modules:  # already paid for (the API imports it): configure structlog's own loggers now
        formatter.real()


def _shared_processors() -> list[Any]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]


def _structlog_formatter(fmt: str, *, colors: bool) -> logging.Formatter:
    """structlog's formatter for stdlib records, configuring structlog's own loggers the same way."""
    import structlog

    shared = _shared_processors()
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=colors)
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":  # the console renderer formats tracebacks itself
        final.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[*final, renderer])
