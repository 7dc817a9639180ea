"""tubesum's batched forward (``pipeline/batched_forward.py``): the real tiny.en model on espeak speech keeps the
words faster-whisper's own batched forward drops, and text-only chunks become sentences whose estimated times
land near the word-aligned ones; plus the pure helpers on hand-made token lists."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

from tubesum.bench.corpus import build_corpus
from tubesum.pipeline.batched_forward import keep_tail, speech_spans, unfinished_from
from tubesum.pipeline.resegment import estimate_word_times, snap_to_pauses, split_words
from tubesum.pipeline.transcribe import _batched_pipeline

TS = 50363  # the first timestamp token (<|0.00|>) of an English-only tokenizer; text tokens are below it
PRECISION = 0.02


@pytest.fixture(scope="module")
def whisper(tiny_model_path: Path) -> WhisperModel:
    return WhisperModel(str(tiny_model_path), device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def minute(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s of seeded espeak speech (bench corpus, seed 2): tiny.en closes a segment and stops short of the end
    of its first 30 s chunk, leaving "... tomatoes, carrots and beans in the garden." undecoded."""
    return build_corpus([60.0], seed=2, cache_dir=tmp_path_factory.mktemp("corpus"))[0].path


def _text(pipeline: BatchedInferencePipeline, audio: object, **kwargs: object) -> list[str]:
    segments, _ = pipeline.transcribe(audio, batch_size=8, beam_size=5, vad_filter=True, **kwargs)
    return [segment.text.strip() for segment in segments]


def test_segment_timestamps_keep_the_words_faster_whispers_batched_forward_drops(
    whisper: WhisperModel, minute: Path
) -> None:
    audio = decode_audio(str(minute))
    theirs = " ".join(_text(BatchedInferencePipeline(whisper), audio, without_timestamps=False))
    ours = " ".join(_text(_batched_pipeline(whisper), audio, without_timestamps=False))
    assert "carrots and beans" not in theirs, theirs  # the control: the unfinished end is lost upstream
    assert "tomatoes, carrots and beans in the garden" in ours, ours
    assert set(theirs.split()) <= set(ours.split())  # nothing else lost


def test_text_only_chunks_become_sentences_timed_near_their_aligned_words(whisper: WhisperModel, minute: Path) -> None:
    audio = decode_audio(str(minute))
    pipeline = _batched_pipeline(whisper)
    estimated = list(pipeline.transcribe(audio, batch_size=8, without_timestamps=True)[0])
    aligned = [
        (words[0].start, words[-1].end, "".join(w.word for w in words).strip())
        for raw in pipeline.transcribe(audio, batch_size=8, without_timestamps=True, word_timestamps=True)[0]
        for words in split_words(raw.words)
    ]
    chunks = list(BatchedInferencePipeline(whisper).transcribe(audio, batch_size=8, without_timestamps=True)[0])
    assert len(estimated) >= 2 * len(chunks) and all(not s.words for s in estimated)
    assert " ".join(s.text.strip() for s in estimated) == " ".join(c.text.strip() for c in chunks)  # same words
    assert [s.start for s in estimated] == sorted(s.start for s in estimated)
    assert all(s.start <= s.end for s in estimated)
    pairs = [(a, (s.start, s.end)) for a, s in zip(aligned, estimated, strict=False) if a[2] == s.text.strip()]
    assert len(pairs) >= 0.8 * len(estimated), "the same sentence cuts as with word timings"
    errors = [abs(a[i] - e[i]) for a, e in pairs for i in (0, 1)]
    assert statistics.median(errors) <= 0.4 and max(errors) <= 2.5, errors


def test_keep_tail_adds_the_text_after_the_last_timestamp_pair() -> None:
    tokens = [TS, 10, 11, TS + 100, TS + 100, 12, 13]  # "<0.00> a b <2.00><2.00> c d" and no closing timestamp
    first = [{"seek": 0, "start": 5.0, "end": 7.0, "tokens": tokens[:4]}]
    kept = keep_tail(first, tokens=tokens, timestamp_begin=TS, time_offset=5.0, duration=3.0, time_precision=0.02)
    assert kept[:1] == first and kept[1]["tokens"] == [TS + 100, 12, 13]
    assert (kept[1]["start"], kept[1]["end"]) == (7.0, 8.0)
    closed = [*tokens, TS + 140]  # a single timestamp at the end: nothing unfinished
    assert keep_tail(first, tokens=closed, timestamp_begin=TS, time_offset=5, duration=3, time_precision=0.02) == first
    no_text = tokens[:5]
    assert keep_tail(first, tokens=no_text, timestamp_begin=TS, time_offset=5, duration=3, time_precision=0.02) == first


def test_unfinished_from_is_the_last_timestamp_when_a_pair_ends_short_of_the_chunk() -> None:
    stopped = [TS, 10, TS + 1408, TS + 1408]  # "ten of clubs" closed at 28.16 s of a 29.87 s chunk
    assert unfinished_from(stopped, timestamp_begin=TS, duration=29.87, time_precision=PRECISION) == pytest.approx(
        28.16
    )
    near_end = [TS, 10, TS + 1480, TS + 1480]  # 0.27 s left: padding, not a word
    assert unfinished_from(near_end, timestamp_begin=TS, duration=29.87, time_precision=PRECISION) == 29.87
    single = [TS, 10, TS + 1408]
    assert unfinished_from(single, timestamp_begin=TS, duration=29.87, time_precision=PRECISION) == 29.87


def test_speech_spans_lay_the_vad_ranges_end_to_end_without_their_padding() -> None:
    rate = 16000
    first_chunk = {
        "offset": 0.0,
        "duration": 5.0,
        "segments": [{"start": 0, "end": 2 * rate}, {"start": 3 * rate, "end": 6 * rate}],
    }
    assert speech_spans(first_chunk) == [(0.4, 1.6), (2.4, 4.6)]
    # faster-whisper 1.2 leaves the first range of a later chunk out of its list: what the others leave of it
    later = {"offset": 5.0, "duration": 4.0, "segments": [{"start": 10 * rate, "end": 12 * rate}]}
    assert speech_spans(later) == [(5.4, 6.6), (7.4, 8.6)]
    short = {"offset": 0.0, "duration": 0.8, "segments": [{"start": 0, "end": int(0.8 * rate)}]}
    assert speech_spans(short) == [(0.2, 0.6)]  # at most a quarter of a range is padding


def test_estimated_word_times_follow_the_letters_and_skip_the_pauses() -> None:
    words = [" Hello", " there.", " Bye", " now."]  # 5 + 6 + 3 + 4 = 18 letters over 18 s of speech
    timed = estimate_word_times(words, spans=[(0.0, 11.0), (13.0, 20.0)], tokens=[[1], [2], [3], [4]])
    assert [(w.start, w.end) for w in timed] == [(0.0, 5.0), (5.0, 11.0), (13.0, 16.0), (16.0, 20.0)]
    assert [w.tokens for w in timed] == [(1,), (2,), (3,), (4,)]
    groups = list(split_words(timed))  # the 2 s pause between the spans cuts
    assert [[w.word for w in g] for g in groups] == [[" Hello", " there."], [" Bye", " now."]]


def test_snap_moves_each_cut_into_the_nearest_pause_within_reach() -> None:
    spans = [(0.0, 4.0), (5.0, 9.0), (20.0, 25.0)]
    assert snap_to_pauses([(0.0, 4.6), (4.6, 9.5)], spans) == [(0.0, 4.0), (5.0, 9.5)]
    assert snap_to_pauses([(0.0, 7.0), (7.0, 9.0)], spans) == [(0.0, 7.0), (7.0, 9.0)]  # 3 s away: left alone
    assert snap_to_pauses([(0.0, 12.0)], spans) == [(0.0, 12.0)]  # one segment: nothing to cut
