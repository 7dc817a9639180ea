"""Output writers: pure functions of a ``Transcript`` (no I/O, no clock).

``render(transcript, "srt")`` returns the bytes of one format; ``CONTENT_TYPES`` and ``EXTENSIONS`` tell a
front end how to serve or name them. Each format also has its own ``to_<format>`` function returning ``str``
(``bytes`` for PDF). PDF needs the optional ``pdf`` extra (pycairo); asking for it without raises
``MissingExtraError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from tubesum.config import OutputFormat
from tubesum.errors import OutputError
from tubesum.files import safe_stem
from tubesum.outputs.jsonout import from_json, load_schema, to_json
from tubesum.outputs.pdf import to_pdf
from tubesum.outputs.subtitles import SubtitleLayout, to_srt, to_vtt
from tubesum.outputs.text import to_markdown, to_txt
from tubesum.records import Transcript

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "SubtitleLayout",
    "filename",
    "from_json",
    "load_schema",
    "render",
    "to_json",
    "to_markdown",
    "to_pdf",
    "to_srt",
    "to_txt",
    "to_vtt",
]

#: Media type of each format, for HTTP responses.
CONTENT_TYPES: Mapping[OutputFormat, str] = MappingProxyType(
    {
        "txt": "text/plain; charset=utf-8",
        "srt": "application/x-subrip",
        "vtt": "text/vtt",
        "json": "application/json",
        "md": "text/markdown; charset=utf-8",
        "pdf": "application/pdf",
    }
)

#: File name extension of each format, without the dot.
EXTENSIONS: Mapping[OutputFormat, str] = MappingProxyType(
    {
        "txt": "txt",
        "srt": "srt",
        "vtt": "vtt",
        "json": "json",
        "md": "md",
        "pdf": "pdf",
    }
)

_TEXT_WRITERS: Mapping[OutputFormat, Callable[[Transcript], str]] = MappingProxyType(
    {
        "txt": to_txt,
        "srt": to_srt,
        "vtt": to_vtt,
        "json": to_json,
        "md": to_markdown,
    }
)


def render(transcript: Transcript, fmt: OutputFormat, *, layout: SubtitleLayout | None = None) -> bytes:
    """Return ``transcript`` rendered as ``fmt`` (text formats as UTF-8; srt and vtt cut to ``layout``).

    Raises ``OutputError`` for an unknown format and ``MissingExtraError`` for PDF without pycairo.
    """
    if fmt == "pdf":
        return to_pdf(transcript)
    if fmt in ("srt", "vtt") and layout is not None:
        return (to_srt if fmt == "srt" else to_vtt)(transcript, layout=layout).encode("utf-8", "replace")
    writer = _TEXT_WRITERS.get(fmt)
    if writer is None:
        raise OutputError(f"Unknown output format {fmt!r}.", hint=f"Use one of: {', '.join(EXTENSIONS)}.")
    return writer(transcript).encode("utf-8", "replace")


def filename(transcript: Transcript, fmt: OutputFormat) -> str:
    """Return the download/output file name: the title made safe for file systems, the video id, the extension."""
    return f"{safe_stem(transcript.title, video_id=transcript.source.video_id)}.{EXTENSIONS[fmt]}"
