"""Split a transcript into timed sentences, the unit every summarizer works on.

Whisper segments rarely line up with sentences: one segment may hold two sentences, and a sentence may run over
three segments. So the segments are first turned into a stream of timed words (the segment's own word timings
when it has them, else its span shared out by character count), and the stream is then cut at sentence ends:
``. ! ? …`` (not after abbreviations such as "e.g." or "Dr.") and the CJK ``。！？``, which need no space after
them. Text without punctuation (automatic captions) is cut at a segment end once a sentence is long enough.
Fragments shorter than about three words ("Yes.", "Right.") join the sentence before them.

Usage::

    for sentence in split_sentences(transcript):
        print(f"{sentence.start:7.2f} {sentence.text}")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tubesum.records import Segment, Transcript

__all__ = ["Sentence", "sentences_from_segments", "split_sentences"]

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")
_CJK_PIECES = re.compile(r"[^。！？]*[。！？]+[」』）〕】\"'”’)]*|[^。！？]+")
_SENTENCE_END = re.compile(r"(?:[.!?…]+|[。！？]+)[\"'”’)\]」』）〕】]*$")
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.){2,}$|^[A-Z]\.$")  # e.g. i.e. U.S. and initials like "J."
_ABBREVIATION_TEXT = (
    "mr mrs ms dr prof st jr sr vs approx fig figs vol ca cf dept gen gov inc ltd corp mt sgt capt"
    " lt col rev hon jan feb mar apr jun jul aug sep sept oct nov dec"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
_MIN_WORDS = 3  # shorter sentences are fragments and join a neighbour
_SOFT_MAX_WORDS = 30  # without punctuation, cut at the next segment end after this many words
_HARD_MAX_WORDS = 80  # ... and anywhere after this many


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of the transcript with the time span it was spoken in (seconds)."""

    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class _Unit:
    """A timed word (or CJK clause) with the whitespace before it, as in the source text."""

    text: str
    start: float
    end: float


def split_sentences(transcript: Transcript) -> list[Sentence]:
    """Return the transcript's sentences in time order (empty when the transcript has no text)."""
    return sentences_from_segments(transcript.segments)


def sentences_from_segments(segments: Iterable[Segment]) -> list[Sentence]:
    """Return the sentences spoken in ``segments`` (see the module docstring for the rules)."""
    raw: list[list[_Unit]] = []
    current: list[_Unit] = []
    for segment in segments:
        units = list(_units(segment))
        if not units:
            continue
        if current and not units[0].text[:1].isspace() and not _joins_without_space(current[-1], units[0]):
            units[0] = _Unit(" " + units[0].text, units[0].start, units[0].end)
        for unit in units:
            current.append(unit)
            if _ends_sentence(unit.text) or len(current) >= _HARD_MAX_WORDS:
                raw.append(current)
                current = []
        if len(current) >= _SOFT_MAX_WORDS:  # no punctuation for a long while: a segment end will do
            raw.append(current)
            current = []
    if current:
        raw.append(current)
    return _merge_fragments([_sentence(units) for units in raw])


def _units(segment: Segment) -> Iterator[_Unit]:
    """Yield the segment's timed words, split further at CJK sentence ends."""
    if segment.words:
        words = [(w.text, w.start, w.end) for w in segment.words if w.text.strip()]
    else:
        words = _share_out(segment.text, segment.start, segment.end)
    for text, start, end in words:
        pieces = _CJK_PIECES.findall(text)
        if len(pieces) <= 1:
            yield _Unit(text, start, max(start, end))
            continue
        for piece, piece_start, piece_end in _share_out_pieces(pieces, start, end):
            yield _Unit(piece, piece_start, piece_end)


def _share_out(text: str, start: float, end: float) -> list[tuple[str, float, float]]:
    """Split ``text`` into words (keeping the space before each) timed by their share of the characters."""
    return _share_out_pieces(re.findall(r"\s*\S+", text), start, end)


def _share_out_pieces(pieces: list[str], start: float, end: float) -> list[tuple[str, float, float]]:
    weights = [len(p.strip()) or 1 for p in pieces]
    total = sum(weights)
    span = max(0.0, end - start)
    timed: list[tuple[str, float, float]] = []
    before = 0
    for piece, weight in zip(pieces, weights, strict=True):
        timed.append((piece, start + span * before / total, start + span * (before + weight) / total))
        before += weight
    return timed


def _joins_without_space(left: _Unit, right: _Unit) -> bool:
    """CJK text runs on without spaces; everything else gets one between segments."""
    return bool(_CJK.search(left.text[-1:])) or bool(_CJK.search(right.text[:1]))


def _ends_sentence(text: str) -> bool:
    word = text.strip()
    if not _SENTENCE_END.search(word):
        return False
    if word[-1] in "。！？…" or word.endswith(("?", "!", "...")):
        return True
    bare = word.rstrip("\"'”’)]」』）〕】")
    if not bare.endswith("."):
        return True
    if _INITIALISM.match(bare):
        return False
    return bare[:-1].lower().lstrip("(\"'“‘") not in _ABBREVIATIONS


def _sentence(units: list[_Unit]) -> Sentence:
    text = re.sub(r"\s+", " ", "".join(u.text for u in units)).strip()
    start = units[0].start
    return Sentence(text=text, start=start, end=max(start, units[-1].end))


def _size(text: str) -> int:
    """Return a word count that also works for CJK (about two characters a word)."""
    return len(text.split()) + len(_CJK.findall(text)) // 2


def _merge_fragments(sentences: list[Sentence]) -> list[Sentence]:
    """Join sentences shorter than ``_MIN_WORDS`` to the one before (the first one to the one after)."""
    merged: list[Sentence] = []
    pending: Sentence | None = None  # a leading fragment waiting for the next sentence
    for sentence in sentences:
        if pending is not None:
            sentence = _join(pending, sentence)
            pending = None
        if _size(sentence.text) >= _MIN_WORDS:
            merged.append(sentence)
        elif merged:
            merged[-1] = _join(merged[-1], sentence)
        else:
            pending = sentence
    if pending is not None:  # the whole transcript is one fragment
        merged.append(pending)
    return merged


def _join(left: Sentence, right: Sentence) -> Sentence:
    sep = "" if _CJK.search(left.text[-1:]) or _CJK.search(right.text[:1]) else " "
    return Sentence(text=left.text + sep + right.text, start=left.start, end=max(left.end, right.end))
