"""Cut the long segments of text-only decoding into sentence-sized ones, at word timings.

Batched decoding without timestamp tokens (the fast, accurate default: :func:`~tubesum.pipeline.transcribe.
decoding_plan`) gives one segment per speech chunk of up to 30 s. Readers, subtitles and live streaming want
sentence-sized segments with their own times, so each chunk is cut after a word that ends a sentence, at a
pause between words, or when it grows too long — always between words, with the words' own timings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["MAX_SECONDS", "PAUSE_SECONDS", "split_words"]

MAX_SECONDS = 12.0  # no segment longer than this when its words allow a cut
PAUSE_SECONDS = 0.8  # a silence this long between two words ends a segment
_MIN_SECONDS = 1.5  # a sentence end this soon after the segment start does not cut (e.g. "Mr.")
_ENDS = (".", "?", "!", "。", "？", "！")


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
