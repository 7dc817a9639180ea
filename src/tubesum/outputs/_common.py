"""Helpers every writer shares: text cleaning, clock formats, YouTube links, paragraphs and metadata lines.

All of it is pure: functions of the records, no I/O and no clock.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from tubesum.records import Segment, Summary, Transcript
from tubesum.textfmt import clean_text, clock, http_url, timestamp

__all__ = [
    "ORIGIN_LABELS",
    "Paragraph",
    "clean_text",
    "clock",
    "http_url",
    "metadata_items",
    "paragraphs",
    "source_url",
    "summary_label",
    "timestamp",
    "timestamp_url",
]

#: How the transcript was made, in words.
ORIGIN_LABELS = {
    "whisper": "Whisper speech recognition",
    "captions": "YouTube captions",
    "auto_captions": "YouTube automatic captions",
}

#: A paragraph ends at a sentence end once it is this long (seconds) ...
PARAGRAPH_MIN_S = 30.0
#: ... and at the next segment once it is this long, sentence end or not.
PARAGRAPH_MAX_S = 60.0

_SENTENCE_END = re.compile(r"[.!?…。！？]['\"”’)\]]*$")


def source_url(transcript: Transcript) -> str | None:
    """Return the public link to the media: the watch URL for YouTube, the http(s) URL otherwise."""
    source = transcript.source
    if source.kind == "youtube" and source.video_id:
        return "https://www.youtube.com/watch?v=" + urllib.parse.quote(source.video_id, safe="")
    if source.kind == "file":
        return None
    return http_url(transcript.info.webpage_url) or http_url(source.url)


def timestamp_url(transcript: Transcript, seconds: float) -> str | None:
    """Return a link that opens a YouTube video at ``seconds``; None for other sources."""
    source = transcript.source
    if source.kind != "youtube" or not source.video_id:
        return None
    return f"{source_url(transcript)}&t={max(0, int(seconds))}s"


def metadata_items(transcript: Transcript) -> list[tuple[str, str]]:
    """Return the (label, value) pairs shown under the title; values are clean text, not escaped."""
    info = transcript.info
    duration = transcript.duration if transcript.duration is not None else info.duration
    if duration is None and transcript.segments:
        duration = max(s.end for s in transcript.segments)
    origin = ORIGIN_LABELS.get(transcript.origin, transcript.origin)
    items = [
        ("Source", source_url(transcript) or transcript.source.label),
        ("Uploader", info.uploader),
        ("Uploaded", _date(info.upload_date)),
        ("Duration", clock(duration) if duration is not None else None),
        ("Language", transcript.language),
        ("Transcript", origin),
        ("Model", transcript.model if transcript.origin == "whisper" else None),
        ("Created", transcript.created_at or None),
    ]
    return [(label, clean_text(value)) for label, value in items if value]


def _date(value: str | None) -> str | None:
    """Turn yt-dlp's ``YYYYMMDD`` into ``YYYY-MM-DD``; pass anything else through."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


@dataclass(frozen=True, slots=True)
class Paragraph:
    """Consecutive segments of one speaker, read as one block of text."""

    start: float
    end: float
    text: str
    speaker: str | None = None


def paragraphs(segments: Iterable[Segment]) -> list[Paragraph]:
    """Group segments into paragraphs.

    A paragraph ends when the speaker changes, at the first sentence end after ``PARAGRAPH_MIN_S`` seconds,
    or at the first segment boundary after ``PARAGRAPH_MAX_S`` seconds. Empty segments are dropped.
    """
    result: list[Paragraph] = []
    current: list[Segment] = []
    for segment in segments:
        if not clean_text(segment.text):
            continue
        if current and _breaks(current, segment):
            result.append(_paragraph(current))
            current = []
        current.append(segment)
    if current:
        result.append(_paragraph(current))
    return result


def _breaks(current: list[Segment], following: Segment) -> bool:
    if following.speaker != current[0].speaker:
        return True
    length = current[-1].end - current[0].start
    if length >= PARAGRAPH_MAX_S:
        return True
    return length >= PARAGRAPH_MIN_S and bool(_SENTENCE_END.search(clean_text(current[-1].text)))


def _paragraph(segments: list[Segment]) -> Paragraph:
    return Paragraph(
        start=segments[0].start,
        end=max(s.end for s in segments),
        text=" ".join(clean_text(s.text) for s in segments),
        speaker=segments[0].speaker,
    )


def summary_label(summary: Summary) -> str:
    """Say how a summary was made; extractive summaries are always labelled as such."""
    if summary.method == "extractive":
        return "Extractive summary: key sentences picked from the transcript, not rewritten."
    return f"Summary written by {summary.model or 'a language model'} ({summary.backend})."
