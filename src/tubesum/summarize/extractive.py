"""Extractive summaries: TextRank over the transcript's own sentences. No model, no network, deterministic.

1. The transcript is split into timed sentences (``sentences.py``); each becomes a TF-IDF vector over its
   lower-cased words (English stop words dropped when the transcript is English; CJK runs become character
   bigrams; other languages keep every word), with smoothed IDF ``ln((1 + n) / (1 + df)) + 1`` and L2 norm.
2. Sentences are nodes of a graph weighted by cosine similarity; PageRank (damping 0.85, power iteration
   to an L1 change below 1e-8 or 200 rounds) scores them.
3. Key points are the best-scored sentences, skipping near-duplicates (cosine > 0.8 to one already taken),
   given back in time order with their timestamps. The abstract is the best 3 of them (2 for short
   transcripts) joined in time order.
4. Transcripts over 15 minutes get chapters. The sentences are grouped into time windows (60 s, or 1/120 of
   the duration when longer); at each window boundary the three windows before and after are compared
   (cosine of summed vectors) and the boundary gets its TextTiling depth (how far that similarity sits below
   the peaks on either side). Chapters start at the deepest boundaries: the deepest always, others while
   their depth is at least max(mean + std, half the deepest), at most one chapter per 5 minutes, each chapter
   at least max(3 min, duration / 20) long. The first starts at 0:00; a title is the chapter's best-scored
   sentence, cut to about 60 characters.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tubesum.errors import SummaryError
from tubesum.progress import ProgressFn
from tubesum.records import Chapter, KeyPoint, Summary, Transcript
from tubesum.summarize.sentences import Sentence, split_sentences

__all__ = ["ENGLISH_STOP_WORDS", "ExtractiveSummarizer", "textrank"]

logger = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float64]
Vectors = npt.NDArray[np.float32]

_STOP_WORDS = """a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't could couldn't did didn't do does doesn't doing don't down during each
    even few for from further get gets got had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    just let's like me more most much mustn't my myself no nor not now of off on once only or other ought our
    ours ourselves out over own really right same say said says shan't she she'd she'll she's should shouldn't
    so some such than that that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those through to too um uh under until up us very was wasn't we we'd we'll we're we've
    well were weren't what what's when when's where where's which while who who's whom why why's will with
    won't would wouldn't yeah yes you you'd you'll you're you've your yours yourself yourselves okay ok going
    gonna thing things know think"""
ENGLISH_STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
_DAMPING = 0.85
_DUPLICATE = 0.8
_CHAPTERS_AFTER = 15 * 60.0
_TITLE_CHARS = 60
_SIDE_WINDOWS = 3  # windows compared on each side of a boundary


@dataclass(frozen=True, slots=True)
class _Ranked:
    sentences: list[Sentence]
    vectors: Vectors  # one L2-normalised TF-IDF row per sentence
    scores: Matrix  # PageRank score per sentence


class ExtractiveSummarizer:
    """Summarize by picking the transcript's most central sentences (TextRank); see the module docstring."""

    name = "extractive"

    def __init__(self, max_points: int = 7) -> None:
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, not {max_points}")
        self.max_points = max_points

    def summarize(
        self, transcript: Transcript, *, language: str | None = None, progress: ProgressFn | None = None
    ) -> Summary:
        """Return an extractive summary; ``language`` is ignored (the sentences are the transcript's own)."""
        sentences = split_sentences(transcript)
        if not sentences:
            raise SummaryError("Nothing to summarize: the transcript is empty.")
        if language and transcript.language and language != transcript.language:
            logger.info("Extractive summaries stay in the transcript's language (%s)", transcript.language)
        if progress is not None:
            progress("summarize", 0, 1)
        ranked = _rank(sentences, transcript.language)
        picked = _pick(ranked, self.max_points)
        best = sorted(picked[: 3 if len(sentences) >= 8 else 2])
        duration = max(transcript.duration or 0.0, sentences[-1].end)
        summary = Summary(
            abstract=" ".join(sentences[i].text for i in best),
            key_points=tuple(KeyPoint(sentences[i].text, sentences[i].start, sentences[i].end) for i in sorted(picked)),
            method="extractive",
            backend="extractive",
            model=None,
            language=transcript.language,
            chapters=_chapters(ranked, duration) if duration > _CHAPTERS_AFTER else (),
        )
        if progress is not None:
            progress("summarize", 1, 1)
        return summary


def textrank(vectors: Vectors | Matrix, *, damping: float = _DAMPING, tol: float = 1e-8, max_iter: int = 200) -> Matrix:
    """Return PageRank scores (summing to 1) of the graph whose edge weights are the rows' cosine similarity.

    ``vectors`` must be L2-normalised rows. A sentence similar to nothing spreads its weight evenly.
    """
    n = vectors.shape[0]
    if n == 0:
        return np.zeros(0)
    weights = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(weights, 0.0)
    np.clip(weights, 0.0, None, out=weights)
    out = weights.sum(axis=1)
    dangling = out == 0
    transition = np.divide(weights, out[:, None], out=np.zeros_like(weights), where=~dangling[:, None])
    transition[dangling] = 1.0 / n
    scores = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        updated = (1.0 - damping) / n + damping * (transition.T @ scores)
        done = float(np.abs(updated - scores).sum()) < tol
        scores = updated
        if done:
            break
    return scores


def _rank(sentences: list[Sentence], language: str | None) -> _Ranked:
    stop = ENGLISH_STOP_WORDS if (language or "en").lower().split("-")[0] == "en" else frozenset()
    bags = [Counter(_terms(s.text, stop)) for s in sentences]
    vectors = _tfidf(bags)
    return _Ranked(sentences, vectors, textrank(vectors))


def _terms(text: str, stop: frozenset[str]) -> list[str]:
    terms: list[str] = []
    for word in _WORD.findall(text.lower().replace("’", "'")):
        if _CJK_RUN.fullmatch(word):
            terms.extend(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        elif word not in stop and not (len(word) == 1 and word.isascii()):
            terms.append(word)
    return terms


def _tfidf(bags: list[Counter[str]]) -> Vectors:
    """Return L2-normalised TF-IDF rows (sublinear tf, smoothed idf).

    Terms in one sentence only count towards the norms but get no column: they can never add to a similarity,
    and leaving them out keeps long transcripts small in memory.
    """
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    n = len(bags)
    vocab = {term: i for i, term in enumerate(sorted(t for t, count in df.items() if count > 1))}
    matrix = np.zeros((n, len(vocab)), dtype=np.float32)
    for row, bag in enumerate(bags):
        norm = 0.0
        for term, count in bag.items():
            weight = (1.0 + math.log(count)) * (math.log((1 + n) / (1 + df[term])) + 1.0)
            norm += weight * weight
            if term in vocab:
                matrix[row, vocab[term]] = weight
        if norm > 0:
            matrix[row] /= math.sqrt(norm)
    return matrix


def _pick(ranked: _Ranked, limit: int) -> list[int]:
    """Return sentence indices, best first, skipping near-duplicates of ones already picked."""
    order = sorted(range(len(ranked.sentences)), key=lambda i: (-ranked.scores[i], i))
    picked: list[int] = []
    for i in order:
        if len(picked) == limit:
            break
        if picked and float(np.max(ranked.vectors[picked] @ ranked.vectors[i])) > _DUPLICATE:
            continue
        picked.append(i)
    return picked


def _chapters(ranked: _Ranked, duration: float) -> tuple[Chapter, ...]:
    """Cut a long transcript into chapters at the deepest similarity drops between time windows."""
    sentences = ranked.sentences
    window = max(60.0, duration / 120)
    keys = [int(s.start // window) for s in sentences]
    firsts = [i for i in range(len(sentences)) if i == 0 or keys[i] != keys[i - 1]]  # first sentence per window
    bounds = [*firsts, len(sentences)]
    blocks = np.array([ranked.vectors[a:b].sum(axis=0) for a, b in itertools.pairwise(bounds)])
    if len(blocks) < 4:
        return ()
    side = _SIDE_WINDOWS
    sims = [
        _cosine(blocks[max(0, k - side) : k].sum(axis=0), blocks[k : k + side].sum(axis=0))
        for k in range(1, len(blocks))
    ]
    depths = _depths(sims)
    min_len = max(180.0, duration / 20)
    most = max(2, int(duration // 300))
    threshold = max(float(np.mean(depths) + np.std(depths)), 0.5 * max(depths))
    cuts: list[float] = []
    for gap in sorted(range(len(depths)), key=lambda g: (-depths[g], g)):
        if len(cuts) + 1 >= most or (cuts and depths[gap] < threshold) or depths[gap] <= 0:
            break
        at = sentences[firsts[gap + 1]].start
        if at < min_len or duration - at < min_len or any(abs(at - c) < min_len for c in cuts):
            continue
        cuts.append(at)
    starts = [0.0, *sorted(cuts)]
    ends = [*starts[1:], duration]
    chapters = []
    for start, end in zip(starts, ends, strict=True):
        inside = [i for i, s in enumerate(sentences) if start <= s.start < end] or [0]
        best = min(inside, key=lambda i: (-ranked.scores[i], i))
        chapters.append(Chapter(title=_title(sentences[best].text), start=start, end=end))
    return tuple(chapters)


def _cosine(a: Vectors, b: Vectors) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0


def _depths(sims: list[float]) -> list[float]:
    """Return each gap's TextTiling depth: how far its similarity sits below the peaks on either side."""
    depths = []
    for g, sim in enumerate(sims):
        left = right = sim
        for value in reversed(sims[:g]):
            if value < left:
                break
            left = value
        for value in sims[g + 1 :]:
            if value < right:
                break
            right = value
        depths.append((left - sim) + (right - sim))
    return depths


def _title(text: str) -> str:
    text = text.strip().rstrip(".!?。！？…,;:")
    if len(text) <= _TITLE_CHARS:
        return text
    cut = text[:_TITLE_CHARS].rsplit(" ", 1)[0] if " " in text[:_TITLE_CHARS] else text[:_TITLE_CHARS]
    return cut.rstrip(",;: ") + "…"
