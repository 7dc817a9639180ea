"""Cut the long segments of text-only decoding into sentence-sized ones, between words.

Batched decoding without timestamp tokens (the fast, accurate default: :func:`~tubesum.pipeline.transcribe.
decoding_plan`) gives one segment per speech chunk of up to 30 s. Readers, subtitles and live streaming want
sentence-sized segments with their own times, so each chunk is cut after a word that ends a sentence, at a
pause between words, or when it grows too long (:func:`split_words`). The words' times are the aligned ones when
the user asked for word timestamps; otherwise they are estimated from the text and the VAD's speech spans
(:func:`estimate_word_times`), and the cuts then move into the nearest pause (:func:`snap_to_pauses`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_SECONDS", "PAUSE_SECONDS", "EstimatedWord", "estimate_word_times", "snap_to_pauses", "split_words"]

MAX_SECONDS = 12.0  # no segment longer than this when its words allow a cut
SNAP_SECONDS = 1.5  # an estimated cut moves to a pause between speech spans this close
PAUSE_SECONDS = 0.8  # a silence this long between two words ends a segment
_MIN_SECONDS = 1.5  # a sentence end this soon after the segment start does not cut (e.g. "Mr.")
_ENDS = (".", "?", "!", "。", "？", "！")


@dataclass(frozen=True, slots=True)
class EstimatedWord:
    """A word with times estimated from its share of the text (``word`` keeps its leading space)."""

    word: str
    start: float
    end: float
    tokens: tuple[int, ...] = ()


def estimate_word_times(
    words: Sequence[str],
    *,
    spans: Sequence[tuple[float, float]],
    tokens: Sequence[Sequence[int]] = (),
) -> list[EstimatedWord]:
    """Spread ``words`` over the speech ``spans`` (start, end) in proportion to their letters: times for cutting
    a text-only chunk into sentences without aligning each word to the audio (speech is about as long as its
    text; a pause between two spans becomes a pause between two words, where :func:`split_words` cuts).
    """
    speech = [(a, b) for a, b in spans if b > a]
    if not speech:  # no span with a length: every word at the first span's start
        speech = [(spans[0][0], spans[0][0])] if spans else [(0.0, 0.0)]
    spans = speech
    weights = [max(len(word.strip()), 1) for word in words]
    scale = sum(b - a for a, b in spans) / (sum(weights) or 1)
    found: list[EstimatedWord] = []
    done = 0.0
    for index, (word, weight) in enumerate(zip(words, weights, strict=True)):
        first = _at(spans, done * scale)
        done += weight
        own = tuple(tokens[index]) if index < len(tokens) else ()
        found.append(
            EstimatedWord(word=word, start=first, end=max(first, _at(spans, done * scale, end=True)), tokens=own)
        )
    return found


def _at(spans: Sequence[tuple[float, float]], speech: float, *, end: bool = False) -> float:
    """The time at ``speech`` seconds of speech into ``spans`` (a span's end, not the next one's start, if ``end``)."""
    for a, b in spans:
        if speech < b - a or (end and speech <= b - a):
            return a + speech
        speech -= b - a
    return spans[-1][1]


def split_words(words: Sequence[Any]) -> Iterator[list[Any]]:
    """Group faster-whisper words (``.word``, ``.start``, ``.end``) into consecutive, non-empty segments."""
    current: list[Any] = []
    for index, word in enumerate(words):
        current.append(word)
        following = words[index + 1] if index + 1 < len(words) else None
        if following is None or _cut_after(current, following):
            yield current
            current = []


def _cut_after(current: list[Any], following: Any) -> bool:
    last = current[-1]
    length = float(last.end) - float(current[0].start)
    if float(following.start) - float(last.end) >= PAUSE_SECONDS:
        return True
    if last.word.strip().endswith(_ENDS) and length >= _MIN_SECONDS:
        return True
    return (length >= MAX_SECONDS and last.word.strip()[-1:] in {",", ";", ":"}) or length >= MAX_SECONDS * 1.5


def snap_to_pauses(
    times: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]], *, reach: float = SNAP_SECONDS
) -> list[tuple[float, float]]:
    """Move the estimated cuts between consecutive segments (``times``: start, end) into the nearest pause
    between two speech ``spans`` within ``reach`` seconds, each pause used once: a sentence usually ends where
    the speaker pauses, and the pauses are known from the VAD while the word times are only estimated."""
    snapped = [list(pair) for pair in times]
    pauses = [(spans[i][1], spans[i + 1][0]) for i in range(len(spans) - 1)]
    used: set[int] = set()
    for k in range(len(snapped) - 1):
        cut = snapped[k][1]
        near = [
            (abs(end - cut), i)
            for i, (end, start) in enumerate(pauses)
            if i not in used and abs(end - cut) <= reach and end > snapped[k][0] and start < snapped[k + 1][1]
        ]
        if near:
            _, i = min(near)
            used.add(i)
            snapped[k][1], snapped[k + 1][0] = pauses[i]
    return [(a, b) for a, b in snapped]
