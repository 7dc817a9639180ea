"""SubRip (``.srt``) and WebVTT (``.vtt``) writers, built on one cue builder.

Cue rules, following common subtitle practice:

* a cue holds at most 2 lines of at most 42 columns by default (:class:`SubtitleLayout`, from the
  ``max_line_count`` and ``max_line_width`` options; East Asian wide characters count as two, so a line
  holds 21 of them); a two-line cue is balanced (the break that makes the longer line shortest wins), more
  lines are filled in turn;
* a segment that does not fit one cue is split into several, at word timings when the segment has words,
  else in proportion to character offsets; a word longer than a line is cut (that is how space-less scripts
  such as Chinese or Japanese wrap);
* the cues of one segment are contiguous and cover exactly the segment's time span;
* times are whole milliseconds and every cue lasts at least 1 ms: a segment whose end is not after its
  start ends at ``min(next segment start, start + 0.5 s)``, or at ``start + 0.5 s`` when the next segment
  starts at the same time;
* speakers: SRT prefixes every cue with ``SPEAKER_00: ``; WebVTT wraps it in a ``<v SPEAKER_00>`` voice tag;
* SRT has no escaping, so ``-->`` in text becomes ``->``; WebVTT escapes ``&``, ``<`` and ``>`` in cue text
  and in the voice name, so text from the internet can never open a tag.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tubesum.outputs._common import clean_text
from tubesum.records import Segment, Transcript, Word

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = [
    "LINE_WIDTH",
    "MAX_LINES",
    "Cue",
    "SubtitleLayout",
    "build_cues",
    "srt_time",
    "to_srt",
    "to_vtt",
    "vtt_escape",
    "vtt_time",
]

#: Characters per subtitle line.
LINE_WIDTH = 42
#: Lines per cue.
MAX_LINES = 2
#: Duration given to a segment whose end is not after its start (ms).
FALLBACK_DURATION_MS = 500
#: The first line never gets narrower than this, however long the speaker prefix is.
_MIN_FIRST_WIDTH = 12


@dataclass(frozen=True, slots=True)
class SubtitleLayout:
    """How cues are cut: at most ``lines`` lines of at most ``width`` columns."""

    width: int = LINE_WIDTH
    lines: int = MAX_LINES

    @classmethod
    def from_settings(cls, settings: Settings) -> SubtitleLayout:
        return cls(width=settings.max_line_width, lines=settings.max_line_count)


DEFAULT_LAYOUT = SubtitleLayout()


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle on screen: whole milliseconds, 1-2 lines of plain (unescaped) text, and its speaker."""

    start_ms: int
    end_ms: int
    lines: tuple[str, ...]
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class _Unit:
    """A piece of text that is never broken across lines, with the time it is spoken."""

    text: str
    space_before: bool
    start: float
    width: int


def build_cues(
    segments: Sequence[Segment], *, speaker_prefix: bool = False, layout: SubtitleLayout = DEFAULT_LAYOUT
) -> list[Cue]:
    """Turn segments into cues (see the module docstring for the rules), cut to ``layout``.

    With ``speaker_prefix`` the first line of a cue keeps room for ``"SPEAKER_00: "``.
    """
    cues: list[Cue] = []
    for start_ms, end_ms, segment in _timed(segments):
        speaker = clean_text(segment.speaker or "") or None
        width = layout.width - (_columns(speaker) + 2 if speaker and speaker_prefix else 0)
        first = min(layout.width, max(width, _MIN_FIRST_WIDTH))
        cues += _segment_cues(segment, start_ms, end_ms, speaker, first, layout)
    return cues


def _timed(segments: Sequence[Segment]) -> list[tuple[int, int, Segment]]:
    """Return the non-empty segments with times in ms, every end strictly after its start."""
    kept = [s for s in segments if clean_text(s.text)]
    starts = [max(0, round(s.start * 1000)) for s in kept]
    timed = []
    for i, segment in enumerate(kept):
        start, end = starts[i], round(segment.end * 1000)
        if end <= start:
            following = starts[i + 1] if i + 1 < len(starts) else None
            end = start + FALLBACK_DURATION_MS
            if following is not None and following > start:
                end = min(following, end)
        timed.append((start, end, segment))
    return timed


def _segment_cues(
    segment: Segment, start_ms: int, end_ms: int, speaker: str | None, width: int, layout: SubtitleLayout
) -> list[Cue]:
    text = clean_text(segment.text)
    units = _text_units(text, start_ms / 1000, end_ms / 1000, width)
    chunks = _pack(units, width, layout)
    if len(chunks) > 1 and segment.words:
        chunks = _pack(_word_units(segment.words, text, width), width, layout) or chunks
    bounds = _boundaries([round(chunk[0].start * 1000) for chunk in chunks], start_ms, end_ms)
    return [
        Cue(start_ms=bounds[i], end_ms=bounds[i + 1], lines=_balance(chunk, width, layout), speaker=speaker)
        for i, chunk in enumerate(chunks)
    ]


def _text_units(text: str, start: float, end: float, width: int) -> list[_Unit]:
    """Split text into words (long ones cut to ``width``), timed in proportion to their character offset."""
    span = end - start
    units = []
    for match in re.finditer(r"\S+", text):
        for offset, piece in _cut(match.group(), width):
            position = match.start() + offset
            units.append(_Unit(piece, offset == 0, start + span * position / len(text), _columns(piece)))
    return units


def _cut(token: str, width: int) -> list[tuple[int, str]]:
    """Cut ``token`` into (offset, piece) pairs no wider than ``width`` columns (one character at least)."""
    pieces: list[tuple[int, str]] = []
    begin, used = 0, 0
    for i, char in enumerate(token):
        columns = _columns(char)
        if i > begin and used + columns > width:
            pieces.append((begin, token[begin:i]))
            begin, used = i, 0
        used += columns
    pieces.append((begin, token[begin:]))
    return pieces


def _columns(text: str) -> int:
    """Return the display width of ``text``: East Asian wide and full-width characters count twice."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _word_units(words: Iterable[Word], text: str, width: int) -> list[_Unit]:
    """Turn Whisper's words (``" quick"``, with their leading space) into units, cutting over-long ones."""
    words = [w for w in words if clean_text(w.text)]
    spaced = any(w.text[:1].isspace() for w in words[1:])
    units = []
    for word in words:
        space = word.text[:1].isspace() if spaced else " " in text
        for unit in _text_units(clean_text(word.text), word.start, max(word.end, word.start), width):
            units.append(_Unit(unit.text, space and unit.space_before, unit.start, unit.width))
    return units


def _length(units: Sequence[_Unit]) -> int:
    """Return the display width of ``units`` joined on one line."""
    return sum(u.width for u in units) + sum(1 for u in units[1:] if u.space_before)


def _join(units: Sequence[_Unit]) -> str:
    return "".join((" " if i and u.space_before else "") + u.text for i, u in enumerate(units))


def _pack(units: Sequence[_Unit], first_width: int, layout: SubtitleLayout) -> list[list[_Unit]]:
    """Split units into as few cues as greedy filling needs, then even out their lengths.

    Greedy filling alone leaves a stub ("without") in the last cue; the even split spreads the text so each cue
    stays on screen for a readable time. The greedy result stands when the even split would not fit.
    """
    greedy = _pack_greedy(units, first_width, layout)
    if len(greedy) < 2:
        return greedy
    total = _length(units)
    cuts: list[int] = []
    width = 0
    for i, unit in enumerate(units):
        width += unit.width + (1 if unit.space_before else 0)
        if len(cuts) < len(greedy) - 1 and width >= total * (len(cuts) + 1) / len(greedy) and i + 1 < len(units):
            cuts.append(i + 1)
    edges = [0, *cuts, len(units)]
    even = [list(units[a:b]) for a, b in itertools.pairwise(edges) if b > a]
    fits = all(_pack_greedy(chunk, first_width, layout) == [chunk] for chunk in even)
    return even if fits and len(even) == len(greedy) else greedy


def _pack_greedy(units: Sequence[_Unit], first_width: int, layout: SubtitleLayout) -> list[list[_Unit]]:
    """Fill cues greedily: line one up to ``first_width``, the other lines up to ``layout.width``."""
    chunks = []
    i = 0
    while i < len(units):
        j = i
        for line in range(layout.lines):
            j = _fill(units, j, first_width if line == 0 else layout.width)
        chunks.append(list(units[i:j]))
        i = j
    return chunks


def _fill(units: Sequence[_Unit], i: int, width: int) -> int:
    """Return the end of the longest line starting at ``units[i]`` that fits ``width`` (at least one unit)."""
    if i >= len(units):
        return i
    j, length = i + 1, units[i].width
    while j < len(units):
        length += units[j].width + (1 if units[j].space_before else 0)
        if length > width:
            break
        j += 1
    return j


def _balance(units: Sequence[_Unit], first_width: int, layout: SubtitleLayout) -> tuple[str, ...]:
    """Lay out one cue's units: one line when it fits, else the most even two-line break (more lines: filled
    in turn).

    The first line is ``layout.width - first_width`` columns longer on screen (the speaker prefix).
    """
    if _length(units) <= first_width or layout.lines == 1:
        return (_join(units),)
    if layout.lines > 2:
        lines: list[str] = []
        i = 0
        while i < len(units):
            j = _fill(units, i, first_width if not lines else layout.width)
            lines.append(_join(units[i:j]))
            i = j
        return tuple(lines)
    prefix = layout.width - first_width
    best: tuple[int, int] | None = None
    for k in range(1, len(units)):
        top, bottom = _length(units[:k]), _length(units[k:])
        score = max(top + prefix, bottom)
        if top <= first_width and bottom <= layout.width and (best is None or score < best[0]):
            best = (score, k)
    k = best[1] if best else _fill(units, 0, first_width)
    return (_join(units[:k]), _join(units[k:]))


def _boundaries(starts: list[int], start_ms: int, end_ms: int) -> list[int]:
    """Return strictly increasing cue boundaries: segment start, each later cue's start, segment end."""
    bounds = [start_ms]
    for i, value in enumerate(starts[1:], start=1):
        room = len(starts) - i  # keep 1 ms for each cue still to come
        bounds.append(max(bounds[-1] + 1, min(value, end_ms - room)))
    bounds.append(max(end_ms, bounds[-1] + 1))
    return bounds


# -- SubRip ------------------------------------------------------------------------------------------------
def srt_time(ms: int) -> str:
    """Format milliseconds as SubRip's ``HH:MM:SS,mmm``."""
    return _clock(ms, ",")


def to_srt(transcript: Transcript, *, layout: SubtitleLayout = DEFAULT_LAYOUT) -> str:
    """Render SubRip subtitles: 1-based numbered cues, each followed by a blank line (as ``srt.compose``)."""
    blocks = []
    for index, cue in enumerate(build_cues(transcript.segments, speaker_prefix=True, layout=layout), start=1):
        lines = list(cue.lines)
        if cue.speaker:
            lines[0] = f"{cue.speaker}: {lines[0]}"
        text = "\n".join(lines).replace("-->", "->")
        blocks.append(f"{index}\n{srt_time(cue.start_ms)} --> {srt_time(cue.end_ms)}\n{text}\n\n")
    return "".join(blocks)


# -- WebVTT ------------------------------------------------------------------------------------------------
def vtt_time(ms: int) -> str:
    """Format milliseconds as WebVTT's ``HH:MM:SS.mmm``."""
    return _clock(ms, ".")


def vtt_escape(text: str) -> str:
    """Escape text for a WebVTT cue or voice annotation."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(transcript: Transcript, *, layout: SubtitleLayout = DEFAULT_LAYOUT) -> str:
    """Render WebVTT subtitles, speakers as ``<v NAME>`` voice tags."""
    blocks = ["WEBVTT\n"]
    for cue in build_cues(transcript.segments, layout=layout):
        text = "\n".join(vtt_escape(line) for line in cue.lines)
        if cue.speaker:
            text = f"<v {vtt_escape(cue.speaker)}>{text}"
        blocks.append(f"{vtt_time(cue.start_ms)} --> {vtt_time(cue.end_ms)}\n{text}\n")
    return "\n".join(blocks)


def _clock(ms: int, separator: str) -> str:
    seconds, millis = divmod(max(0, ms), 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"
