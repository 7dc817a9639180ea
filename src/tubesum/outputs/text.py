"""Plain text (``.txt``) and Markdown (``.md``) writers.

* txt: no header; one segment per line, ``SPEAKER_00: `` in front of every line that has a speaker (so each
  line stands alone under ``grep``), whitespace and control characters cleaned.
* md: ``# Title``, a metadata list, then ``## Transcript`` in paragraphs (see ``_common.paragraphs``): each
  starts with a ``[mm:ss]`` timestamp, a link into the video for YouTube sources, and speaker turns are shown
  as ``**SPEAKER_00:**`` where the speaker changes. Everything that came from the internet (title, uploader,
  text) is escaped, so it renders as the text it is: no HTML, no links, no headings.
"""

from __future__ import annotations

import urllib.parse

from tubesum.outputs._common import (
    Paragraph,
    clean_text,
    http_url,
    metadata_items,
    paragraphs,
    source_url,
    summary_label,
    timestamp,
    timestamp_url,
)
from tubesum.records import Summary, Transcript
from tubesum.textfmt import md_escape

__all__ = ["md_escape", "to_markdown", "to_txt"]

# Characters left as they are in a link destination; everything else is percent-encoded.
_URL_SAFE = "/:?#[]@!$&'*+,;=%~-._"


def to_txt(transcript: Transcript) -> str:
    """Render the transcript as plain text, one segment per line."""
    lines = []
    for segment in transcript.segments:
        text, speaker = clean_text(segment.text), clean_text(segment.speaker or "")
        if text:
            lines.append(f"{speaker}: {text}" if speaker else text)
    return "".join(f"{line}\n" for line in lines)


def to_markdown(transcript: Transcript) -> str:
    """Render the transcript as a Markdown document."""
    parts = [f"# {md_escape(transcript.title) or 'Transcript'}", _metadata(transcript)]
    if transcript.summary is not None:
        parts += _summary(transcript, transcript.summary)
    parts.append("## Transcript")
    blocks = _paragraphs(transcript)
    parts += blocks or ["*No speech was transcribed.*"]
    return "\n\n".join(parts) + "\n"


def _metadata(transcript: Transcript) -> str:
    url = source_url(transcript)
    lines = []
    for label, value in metadata_items(transcript):
        shown = _link(md_escape(value), url) if label == "Source" and url else md_escape(value)
        lines.append(f"- **{label}:** {shown}")
    return "\n".join(lines)


def _summary(transcript: Transcript, summary: Summary) -> list[str]:
    """Return the summary blocks: abstract, key points and chapters with timestamps that link into the video."""
    blocks = ["## Summary", f"*{md_escape(summary_label(summary))}*"]
    if summary.abstract.strip():
        blocks.append(md_escape(summary.abstract))
    if summary.key_points:
        blocks.append("### Key points")
        blocks.append(
            "\n".join(f"- {_point_stamp(transcript, k.start)}{md_escape(k.text)}" for k in summary.key_points)
        )
    if summary.chapters:
        blocks.append("### Chapters")
        blocks.append("\n".join(f"- {_point_stamp(transcript, c.start)}{md_escape(c.title)}" for c in summary.chapters))
    return blocks


def _point_stamp(transcript: Transcript, start: float | None) -> str:
    if start is None:
        return ""
    label = f"[{timestamp(start)}]"
    url = timestamp_url(transcript, start)
    return (_link(label, url) if url else label) + " "


def _paragraphs(transcript: Transcript) -> list[str]:
    blocks = []
    speaker: str | None = None
    for paragraph in paragraphs(transcript.segments):
        head = _stamp(transcript, paragraph)
        if paragraph.speaker and paragraph.speaker != speaker:
            head += f" **{md_escape(paragraph.speaker)}:**"
        speaker = paragraph.speaker
        blocks.append(f"{head} {md_escape(paragraph.text)}")
    return blocks


def _stamp(transcript: Transcript, paragraph: Paragraph) -> str:
    label = f"[{timestamp(paragraph.start)}]"
    url = timestamp_url(transcript, paragraph.start)
    return _link(label, url) if url else label


def _link(text: str, url: str) -> str:
    """Return a Markdown link; the URL must be http(s) and is percent-encoded so it cannot end the link."""
    safe = http_url(url)
    if safe is None:
        return text
    return f"[{text}]({urllib.parse.quote(safe, safe=_URL_SAFE)})"
