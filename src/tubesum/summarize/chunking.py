"""Cut timed sentences into chunks that fit a model's context, on sentence boundaries, with overlap.

Each chunk repeats the last few whole sentences of the chunk before it (up to ``overlap_tokens``), so a thought
cut at a chunk edge is seen whole at least once. The repeated sentences are ``chunk.overlap`` leading ones;
``chunk.owned`` are the rest, and the owned sentences of all chunks, in order, are the input exactly once,
which lets a reduce step count every sentence once. A sentence longer than ``max_tokens`` on its own is cut
into word runs that each fit (times shared out by characters): nothing is dropped, no chunk is too big.

Usage::

    chunks = chunk_sentences(sentences, max_tokens=3000, overlap_tokens=200, count_tokens=backend.count_tokens)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tubesum.summarize.sentences import Sentence

__all__ = ["Chunk", "chunk_sentences", "fit_sentences"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive sentences that fit in ``max_tokens``; the first ``overlap`` repeat the previous chunk's end.

    ``tokens`` is the sum of ``count_tokens(sentence.text)`` over the chunk's sentences.
    """

    sentences: tuple[Sentence, ...]
    start: float
    end: float
    tokens: int
    overlap: int = 0

    @property
    def owned(self) -> tuple[Sentence, ...]:
        """Return the sentences this chunk is first to hold (the ones a reduce step counts)."""
        return self.sentences[self.overlap :]


def chunk_sentences(
    sentences: Sequence[Sentence],
    *,
    max_tokens: int,
    overlap_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[Chunk]:
    """Return chunks of at most ``max_tokens`` tokens, in order, overlapping by up to ``overlap_tokens``.

    **Parameters:**

    * **sentences** - timed sentences in time order.
    * **max_tokens** - the most tokens one chunk may hold (at least 1).
    * **overlap_tokens** - the most tokens of whole sentences a chunk repeats from the one before (0: none).
    * **count_tokens** - the model's token counter, applied to each sentence's text.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, not {max_tokens}")
    if overlap_tokens < 0:
        raise ValueError(f"overlap_tokens must not be negative, not {overlap_tokens}")
    pieces = fit_sentences(sentences, max_tokens=max_tokens, count_tokens=count_tokens)
    counts = [count_tokens(s.text) for s in pieces]
    chunks: list[Chunk] = []
    first = 0  # index of the first sentence of the previous chunk
    i = 0
    while i < len(pieces):
        lead = _overlap(counts, first, i, overlap_tokens, room=max_tokens - counts[i]) if chunks else i
        tokens = sum(counts[lead:i])
        j = i
        while j < len(pieces) and tokens + counts[j] <= max_tokens:
            tokens += counts[j]
            j += 1
        held = tuple(pieces[lead:j])
        chunks.append(Chunk(held, start=held[0].start, end=held[-1].end, tokens=tokens, overlap=i - lead))
        first, i = lead, j
    return chunks


def _overlap(counts: list[int], first: int, i: int, budget: int, *, room: int) -> int:
    """Return where the next chunk starts: as many whole sentences before ``i`` as fit both limits."""
    lead, used = i, 0
    limit = min(budget, room)
    while lead - 1 > first and used + counts[lead - 1] <= limit:  # never repeat the whole previous chunk
        lead -= 1
        used += counts[lead]
    return lead


def fit_sentences(
    sentences: Sequence[Sentence], *, max_tokens: int, count_tokens: Callable[[str], int]
) -> list[Sentence]:
    """Return ``sentences`` with each one longer than ``max_tokens`` cut into word runs that fit."""
    fitted: list[Sentence] = []
    for sentence in sentences:
        if count_tokens(sentence.text) <= max_tokens:
            fitted.append(sentence)
        else:
            fitted.extend(_split_long(sentence, max_tokens, count_tokens))
    return fitted


def _split_long(sentence: Sentence, max_tokens: int, count_tokens: Callable[[str], int]) -> list[Sentence]:
    words: list[str] = []
    for word in sentence.text.split():
        if count_tokens(word) <= max_tokens:
            words.append(word)
        else:  # one "word" too long on its own (a URL, unspaced CJK text): cut it by characters
            words.extend(_split_word(word, max_tokens, count_tokens))
    runs: list[str] = []
    current: list[str] = []
    for word in words:
        if current and count_tokens(" ".join([*current, word])) > max_tokens:
            runs.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        runs.append(" ".join(current))
    return _timed(runs, sentence)


def _split_word(word: str, max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    parts: list[str] = []
    current = ""
    for char in word:
        if count_tokens(char) > max_tokens:
            raise ValueError(f"max_tokens={max_tokens} is too small to hold even one character")
        if current and count_tokens(current + char) > max_tokens:
            parts.append(current)
            current = ""
        current += char
    if current:
        parts.append(current)
    return parts


def _timed(runs: list[str], sentence: Sentence) -> list[Sentence]:
    """Share the sentence's time span out over ``runs`` by character count."""
    total = sum(len(r) for r in runs) or 1
    span = sentence.end - sentence.start
    timed: list[Sentence] = []
    before = 0
    for run in runs:
        start = sentence.start + span * before / total
        before += len(run)
        timed.append(Sentence(run, start=start, end=sentence.start + span * before / total))
    return timed
