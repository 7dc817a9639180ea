"""The bench's WER column: normalisation, the error rate, the fastest-accurate choice and the corpus script."""

from __future__ import annotations

from pathlib import Path

import pytest

from tubesum.bench.corpus import build_corpus
from tubesum.bench.report import fastest_accurate
from tubesum.bench.wer import normalize, word_error_rate


def test_normalize_spells_numbers_and_drops_punctuation() -> None:
    assert normalize("Mr. Dashwood left at 7:45, with 3 well-packed bags!") == (
        "mister dashwood left at seven forty five with three well packed bags"
    )
    assert normalize("7 of clubs") == normalize("seven of clubs")
    assert normalize("It's 121.") == "it's one hundred twenty one"


def test_word_error_rate_counts_substitutions_deletions_and_insertions() -> None:
    assert word_error_rate("the quick brown fox", "The quick brown fox.") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d") == 1.0  # two insertions over two words
    assert word_error_rate("a b", "") == 1.0
    with pytest.raises(ValueError, match="no words"):
        word_error_rate("", "a")


def test_fastest_accurate_picks_the_quickest_variant_within_half_a_point() -> None:
    bare = {
        "sequential": {"wer": 0.100, "transcribe_s": 20.0},
        "batched": {"wer": 0.104, "transcribe_s": 12.0},  # within 0.5 points: accurate enough, and faster
        "batched_timestamps": {"wer": 0.120, "transcribe_s": 10.0},  # fastest, but 2 points worse
    }
    assert fastest_accurate(bare) == "batched"
    assert fastest_accurate({"a": {"wer": None, "transcribe_s": 1.0}}) is None


def test_corpus_records_the_words_spoken_even_when_the_last_sentence_is_cut(tmp_path: Path) -> None:
    (short,) = build_corpus([3.0], seed=3, cache_dir=tmp_path)
    (longer,) = build_corpus([12.0], seed=3, cache_dir=tmp_path)
    assert short.script and longer.script
    assert longer.script.startswith(short.script.rsplit(" ", 2)[0]), "same seed: the same sentences in order"
    assert 3 < len(short.script.split()) < len(longer.script.split()) < 60
