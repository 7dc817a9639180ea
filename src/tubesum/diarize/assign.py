"""Give transcript words and segments the speaker diarization found at that time. Pure functions, no torch.

Rules (the tests in ``tests/test_diarize.py`` spell them out on constructed timelines):

* A word gets the speaker of the turn it overlaps most; a tie goes to the turn that starts first. A word that
  overlaps no turn (a gap, or a zero-length word) gets the nearest turn within ``NEAREST_WITHIN`` seconds
  (distance 0 for a point inside or on the edge of a turn), else ``None``.
* A segment gets the speaker with the most overlap summed over its words' spans — or over its own span when it
  has no words or its words overlap nothing — and otherwise the nearest turn, as for words.
* ``rename`` maps labels to names (``SPEAKER_00`` → ``Alice``); labels it does not mention are kept.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from tubesum.errors import ConfigError
from tubesum.records import Segment, SpeakerTurn, Word

__all__ = ["NEAREST_WITHIN", "assign_speakers", "normalise_labels", "parse_rename"]

NEAREST_WITHIN = 1.0
"""Seconds: a word in a gap between turns takes the nearest turn closer than this."""

_LABEL = re.compile(r"^speaker_(\d+)$", re.IGNORECASE)


def normalise_labels(turns: Iterable[SpeakerTurn]) -> list[SpeakerTurn]:
    """Return the turns in time order, relabelled ``SPEAKER_00``, ``SPEAKER_01``, … by first appearance."""
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    names: dict[str, str] = {}
    for turn in ordered:
        names.setdefault(turn.speaker, f"SPEAKER_{len(names):02d}")
    return [replace(t, speaker=names[t.speaker]) for t in ordered]


def parse_rename(items: Iterable[str] | None) -> dict[str, str]:
    """Parse ``LABEL=NAME`` pairs (``SPEAKER_00=Alice``) from the CLI or settings into a mapping.

    ``speaker_00`` is accepted for ``SPEAKER_00``. Raises ConfigError on a pair without ``=``, an empty side, or
    one label given two different names.
    """
    mapping: dict[str, str] = {}
    for raw in items or ():
        label, sep, name = raw.partition("=")
        label, name = label.strip(), name.strip()
        if not sep or not label or not name:
            raise ConfigError(
                f"Cannot read the speaker name {raw!r}.",
                hint="Write LABEL=NAME, e.g. SPEAKER_00=Alice (labels are shown in the transcript).",
            )
        match = _LABEL.match(label)
        if match:
            label = f"SPEAKER_{int(match.group(1)):02d}"
        if mapping.get(label, name) != name:
            raise ConfigError(
                f"Speaker {label} is given two names: {mapping[label]!r} and {name!r}.",
                hint="Name each speaker once.",
            )
        mapping[label] = name
    return mapping


class _Timeline:
    """Turns sorted by start, with a running maximum of their ends, so a lookup scans only nearby turns."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.turns = sorted((t for t in turns if t.end >= t.start), key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]
        self.max_ends: list[float] = []
        for turn in self.turns:
            self.max_ends.append(max(turn.end, self.max_ends[-1]) if self.max_ends else turn.end)

    def near(self, start: float, end: float) -> list[SpeakerTurn]:
        """Return every turn within NEAREST_WITHIN seconds of ``[start, end]``, in start order."""
        first = bisect.bisect_left(self.max_ends, start - NEAREST_WITHIN)
        last = bisect.bisect_right(self.starts, end + NEAREST_WITHIN)
        return [t for t in self.turns[first:last] if t.end >= start - NEAREST_WITHIN]

    def overlaps(self, start: float, end: float) -> dict[str, tuple[float, float]]:
        """Return speaker → (seconds of overlap with ``[start, end]``, start of its first overlapping turn)."""
        found: dict[str, tuple[float, float]] = {}
        for turn in self.near(start, end):
            seconds = _overlap(start, end, turn)
            if seconds > 0:
                total, first = found.get(turn.speaker, (0.0, turn.start))
                found[turn.speaker] = (total + seconds, first)
        return found

    def nearest(self, start: float, end: float) -> str | None:
        """Return the speaker of the closest turn within NEAREST_WITHIN seconds (ties: the earlier turn)."""
        best: tuple[float, float] | None = None
        speaker = None
        for turn in self.near(start, end):
            key = (_distance(start, end, turn), turn.start)
            if key[0] <= NEAREST_WITHIN and (best is None or key < best):
                best, speaker = key, turn.speaker
        return speaker


def _overlap(start: float, end: float, turn: SpeakerTurn) -> float:
    # rounded to the microsecond so that equal overlaps compare equal (0.7 vs 0.7000000000000002)
    return round(max(0.0, min(end, turn.end) - max(start, turn.start)), 6)


def _distance(start: float, end: float, turn: SpeakerTurn) -> float:
    return round(max(0.0, turn.start - end, start - turn.end), 6)


def _winner(totals: Mapping[str, tuple[float, float]]) -> str | None:
    """Pick the speaker with the most overlap; a tie goes to the one whose turn starts first."""
    if not totals:
        return None
    return min(totals.items(), key=lambda item: (-item[1][0], item[1][1]))[0]


def _word_speaker(word: Word, timeline: _Timeline) -> str | None:
    best: tuple[float, float] | None = None
    speaker = None
    for turn in timeline.near(word.start, word.end):
        seconds = _overlap(word.start, word.end, turn)
        if seconds > 0 and (best is None or (-seconds, turn.start) < best):
            best, speaker = (-seconds, turn.start), turn.speaker
    return speaker if speaker is not None else timeline.nearest(word.start, word.end)


def _segment_speaker(segment: Segment, timeline: _Timeline) -> str | None:
    totals: dict[str, tuple[float, float]] = {}
    for word in segment.words:
        for name, (seconds, first) in timeline.overlaps(word.start, word.end).items():
            total, earliest = totals.get(name, (0.0, first))
            totals[name] = (total + seconds, min(earliest, first))
    if not totals:
        totals = timeline.overlaps(segment.start, segment.end)
    return _winner(totals) or timeline.nearest(segment.start, segment.end)


def assign_speakers(
    segments: Sequence[Segment],
    turns: Sequence[SpeakerTurn],
    *,
    rename: Mapping[str, str] | None = None,
) -> tuple[Segment, ...]:
    """Return ``segments`` with ``speaker`` set on every segment and word (``None`` where nobody speaks).

    With no turns at all every speaker is ``None``. ``rename`` maps diarization labels to names.
    """
    timeline = _Timeline(turns)
    names = dict(rename or {})

    def named(label: str | None) -> str | None:
        return names.get(label, label) if label is not None else None

    out: list[Segment] = []
    for segment in segments:
        words = tuple(replace(w, speaker=named(_word_speaker(w, timeline))) for w in segment.words)
        out.append(replace(segment, words=words, speaker=named(_segment_speaker(segment, timeline))))
    return tuple(out)
