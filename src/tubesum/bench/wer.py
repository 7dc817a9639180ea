"""Word error rate of a transcript against the words spoken (jiwer, ``tubesum[bench]``).

Both sides are normalised the same simple way first: lower case, numbers spelled out ("7" → "seven",
"7:45" → "seven forty five", up to 999), a few titles expanded ("mr" → "mister"), punctuation dropped
(apostrophes kept), hyphens and slashes split words. Whisper writes "7 of clubs" where a script says "seven
of clubs": without this a formatting choice would count as an error. It is no full text normaliser: compare
WERs between modes of one run, not with published figures.
"""

from __future__ import annotations

import re

from tubesum.errors import MissingExtraError

__all__ = ["normalize", "word_error_rate"]

_SPLIT = re.compile(r"[-/–—]")
_DROP = re.compile(r"[^\w\s']")
_CLOCK = re.compile(r"\b(\d{1,2})[:.](\d{2})\b")
_NUMBER = re.compile(r"\b\d{1,3}\b")
_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_ONES += "seventeen eighteen nineteen"
_UNITS = _ONES.split()
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def _spell(number: int) -> str:
    """Spell 0..999 in English words."""
    if number < 20:
        return _UNITS[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f" {_UNITS[ones]}" if ones else "")
    hundreds, rest = divmod(number, 100)
    return f"{_UNITS[hundreds]} hundred" + (f" {_spell(rest)}" if rest else "")


def _clock(match: re.Match[str]) -> str:
    minutes = int(match.group(2))
    spoken = "" if minutes == 0 else (f"oh {_spell(minutes)}" if minutes < 10 else _spell(minutes))
    return f"{_spell(int(match.group(1)))} {spoken}"


def normalize(text: str) -> str:
    """Lower-case ``text``, spell out numbers, drop punctuation: words separated by single spaces."""
    text = _CLOCK.sub(_clock, text.lower())
    text = _NUMBER.sub(lambda m: _spell(int(m.group(0))), text)
    words = _DROP.sub(" ", _SPLIT.sub(" ", text)).split()
    words = [_TITLES.get(word.strip("'"), word.strip("'")) for word in words]
    return " ".join(word for word in words if word)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Return (substitutions + deletions + insertions) / reference words, after :func:`normalize`."""
    try:
        import jiwer
    except ImportError:
        raise MissingExtraError("The bench's WER column", "bench", package="jiwer") from None
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        raise ValueError("The reference transcript has no words.")
    return round(float(jiwer.wer(ref, hyp or "")), 4)
