"""Summaries: sentences, chunking, TextRank on real speech, the LLM map-reduce against a real loopback server."""

from __future__ import annotations

import importlib.util
import itertools
import logging
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr

from chat_server import ChatServer, Scripted, serve_chat
from tubesum.config import Settings
from tubesum.errors import ConfigError, MissingExtraError, SummaryBackendError, SummaryError
from tubesum.records import Segment, Source, Transcript, Word
from tubesum.summarize import factory
from tubesum.summarize.chunking import chunk_sentences, fit_sentences
from tubesum.summarize.extractive import ExtractiveSummarizer, textrank
from tubesum.summarize.llm import LlmSummarizer, format_timestamp, parse_reply
from tubesum.summarize.openai_backend import OpenAIChatBackend, estimate_tokens
from tubesum.summarize.sentences import Sentence, sentences_from_segments, split_sentences

SOURCE = Source(kind="file", original="talk.wav", path=Path("talk.wav"))


def make_transcript(segments: list[Segment], *, language: str | None = "en") -> Transcript:
    duration = segments[-1].end if segments else 0.0
    return Transcript(SOURCE, tuple(segments), language=language, origin="whisper", duration=duration)


@pytest.fixture(autouse=True)
def _fresh_factory() -> Iterator[None]:
    factory.clear_summarizers()
    yield
    factory.clear_summarizers()


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with serve_chat() as server:
        yield server


def backend_for(server: ChatServer, **kwargs: object) -> OpenAIChatBackend:
    options: dict[str, object] = {"api_key": None, "timeout": 5.0, "retries": 2, "backoff": 0.01}
    options.update(kwargs)
    return OpenAIChatBackend(server.base_url, "test-model", **options)  # type: ignore[arg-type]


# -- sentences ---------------------------------------------------------------------------------------------
def test_sentences_use_word_timings_when_segments_have_words() -> None:
    words = [Word(0.5, 0.9, " The"), Word(0.9, 1.2, " fox"), Word(1.2, 1.8, " runs."), Word(2.0, 2.3, " Then")]
    words += [Word(2.3, 2.6, " it"), Word(2.6, 3.1, " sleeps"), Word(3.1, 3.4, " well.")]
    sentences = sentences_from_segments([Segment(0.0, 4.0, " The fox runs. Then it sleeps well.", tuple(words))])
    assert sentences == [Sentence("The fox runs.", 0.5, 1.8), Sentence("Then it sleeps well.", 2.0, 3.4)]


def test_sentences_share_a_segment_span_by_characters_and_run_over_segments() -> None:
    segments = [Segment(0.0, 10.0, "Alpha beta gamma. Delta epsilon zeta eta"), Segment(10.0, 12.0, "theta iota.")]
    first, second = sentences_from_segments(segments)
    assert (first.text, first.start, second.text, second.end) == (
        "Alpha beta gamma.",
        0.0,
        "Delta epsilon zeta eta theta iota.",
        12.0,
    )
    assert first.end == second.start == pytest.approx(10 * 15 / 34)  # 15 of the segment's 34 characters


def test_abbreviations_do_not_end_sentences_and_fragments_join_their_neighbour() -> None:
    text = "Dr. Smith met Mr. Jones, e.g. at the U.S. office. Yes. Really? The fox ran away…"
    texts = [s.text for s in sentences_from_segments([Segment(0, 9, text)])]
    assert texts == ["Dr. Smith met Mr. Jones, e.g. at the U.S. office. Yes. Really?", "The fox ran away…"]


def test_cjk_sentences_split_without_spaces() -> None:
    texts = [s.text for s in sentences_from_segments([Segment(0, 6, "今日は晴れです。明日は雨が降ります！")])]
    assert texts == ["今日は晴れです。", "明日は雨が降ります！"]


def test_unpunctuated_captions_are_cut_at_segment_ends() -> None:
    segments = [Segment(i * 3.0, i * 3.0 + 3, "so we keep talking about the thing here") for i in range(12)]
    sentences = sentences_from_segments(segments)
    assert len(sentences) > 1
    assert all(len(s.text.split()) <= 40 for s in sentences)
    assert " ".join(s.text for s in sentences) == " ".join(s.text for s in segments)


def test_a_single_fragment_is_still_a_sentence() -> None:
    assert [s.text for s in sentences_from_segments([Segment(0, 1, "Hi.")])] == ["Hi."]
    assert split_sentences(make_transcript([])) == []


_TOKENS = ["alpha", "beta", "gamma", "Dr.", "e.g.", "end.", "why?", "wow!", "今日は。明日", "x", "...", "U.S."]


@st.composite
def segment_lists(draw: st.DrawFn) -> list[Segment]:
    segments, t = [], 0.0
    for _ in range(draw(st.integers(0, 6))):
        tokens: list[str] = draw(st.lists(st.sampled_from(_TOKENS), max_size=12))
        span = draw(st.floats(0.0, 8.0))
        timed: bool = draw(st.booleans())
        if tokens and timed:
            step = span / len(tokens)
            words = tuple(Word(t + i * step, t + (i + 1) * step, " " + w) for i, w in enumerate(tokens))
        else:
            words = ()
        segments.append(Segment(t, t + span, " ".join(tokens), words))
        t += span + draw(st.floats(0.0, 2.0))
    return segments


@hypothesis_settings(max_examples=200, deadline=None)
@given(segment_lists())
def test_sentences_keep_every_character_in_time_order(segments: list[Segment]) -> None:
    sentences = sentences_from_segments(segments)
    assert "".join(s.text for s in sentences).replace(" ", "") == "".join(s.text for s in segments).replace(" ", "")
    assert all(s.text and s.start <= s.end for s in sentences)
    assert all(a.start <= b.start for a, b in itertools.pairwise(sentences))
    if segments:
        assert all(segments[0].start <= s.start and s.end <= segments[-1].end + 1e-9 for s in sentences)


# -- chunking ----------------------------------------------------------------------------------------------
def word_count(text: str) -> int:
    return len(text.split())


@st.composite
def sentence_lists(draw: st.DrawFn) -> list[Sentence]:
    sentences, t = [], 0.0
    for _ in range(draw(st.integers(0, 40))):
        words = draw(st.lists(st.sampled_from(["a", "bb", "word", "sentence", "x" * 40, "日本語"]), min_size=1))
        span = draw(st.floats(0.0, 5.0))
        sentences.append(Sentence(" ".join(words), t, t + span))
        t += span
    return sentences


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    sentence_lists(),
    st.integers(1, 40),
    st.integers(0, 30),
    st.sampled_from([word_count, estimate_tokens]),
)
def test_chunks_fit_cover_every_sentence_and_own_each_once(
    sentences: list[Sentence], max_tokens: int, overlap_tokens: int, count: object
) -> None:
    count_tokens = word_count if count is word_count else estimate_tokens
    chunks = chunk_sentences(sentences, max_tokens=max_tokens, overlap_tokens=overlap_tokens, count_tokens=count_tokens)
    pieces = fit_sentences(sentences, max_tokens=max_tokens, count_tokens=count_tokens)
    for chunk in chunks:
        assert chunk.tokens == sum(count_tokens(s.text) for s in chunk.sentences) <= max_tokens
        assert chunk.owned and (chunk.start, chunk.end) == (chunk.sentences[0].start, chunk.sentences[-1].end)
    assert [s for c in chunks for s in c.owned] == pieces  # each sentence owned by exactly one chunk, in order
    held = {s for c in chunks for s in c.sentences}
    for sentence in sentences:  # never dropped: whole, or cut into word runs that are all held
        if count_tokens(sentence.text) <= max_tokens:
            assert sentence in held
    assert "".join(p.text for p in pieces).replace(" ", "") == "".join(s.text for s in sentences).replace(" ", "")
    for before, chunk in itertools.pairwise(chunks):  # the overlap is the previous chunk's tail
        repeated = chunk.sentences[: chunk.overlap]
        assert repeated == before.sentences[len(before.sentences) - chunk.overlap :]
        assert sum(count_tokens(s.text) for s in repeated) <= overlap_tokens
    assert not chunks or chunks[0].overlap == 0


def test_a_long_sentence_is_cut_by_words_with_shared_out_times() -> None:
    long = Sentence(" ".join(f"w{i}" for i in range(25)), 10.0, 35.0)
    chunks = chunk_sentences([long], max_tokens=10, overlap_tokens=0, count_tokens=word_count)
    assert [c.tokens for c in chunks] == [10, 10, 5]
    assert chunks[0].start == 10.0 and chunks[-1].end == pytest.approx(35.0)
    assert " ".join(s.text for c in chunks for s in c.sentences) == long.text
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_sentences([long], max_tokens=0, overlap_tokens=0, count_tokens=word_count)


# -- extractive ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spoken(speech_wav: Path, tiny_model_path: Path) -> Transcript:
    """The espeak sentences transcribed by the real tiny.en model, with word timings."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(tiny_model_path), device="cpu", compute_type="int8")
    raw, info = model.transcribe(str(speech_wav), word_timestamps=True)
    segments = [
        Segment(s.start, s.end, s.text, tuple(Word(w.start, w.end, w.word, w.probability) for w in s.words or ()))
        for s in raw
    ]
    return Transcript(SOURCE, tuple(segments), language=info.language, origin="whisper", duration=info.duration)


def assert_points_are_sentences(summary_points: tuple[object, ...], transcript: Transcript) -> None:
    starts = {s.text: s.start for s in split_sentences(transcript)}
    for point in summary_points:
        assert point.text in starts, point  # type: ignore[attr-defined]
        assert point.start == starts[point.text]  # type: ignore[attr-defined]


def test_extractive_summary_of_real_speech(spoken: Transcript) -> None:
    summary = ExtractiveSummarizer().summarize(spoken)
    assert (summary.method, summary.backend, summary.model, summary.chapters) == ("extractive", "extractive", None, ())
    assert summary.key_points and summary.abstract
    assert_points_are_sentences(summary.key_points, spoken)
    assert {"fox", "museum"} & set(re.findall(r"\w+", summary.abstract.lower()))


TOPICS = {
    "cooking": "pasta sauce tomato garlic oven kitchen recipe basil onion pepper butter flour dough",
    "astronomy": "telescope galaxy planet orbit comet nebula star moon gravity eclipse asteroid orion",
    "football": "goal striker referee penalty stadium league match keeper midfield coach tackle pitch",
    "gardening": "soil compost seeds roses tulips watering shovel weeds hedge lawn fertilizer greenhouse",
}


def topic_talk(minutes_per_topic: float = 6.0) -> Transcript:
    """About 24 minutes of four topics, one after the other, in 12-second segments."""
    rng = random.Random(7)
    segments, t = [], 0.0
    for vocabulary in TOPICS.values():
        words = vocabulary.split()
        for _ in range(int(minutes_per_topic * 60 / 12)):
            a, b, c, d = rng.sample(words, 4)
            text = f"Now the {a} and the {b} matter. We talk about {c} with {d} and {a} today."
            segments.append(Segment(t, t + 12.0, text))
            t += 12.0
    return make_transcript(segments)


def test_extractive_summary_of_a_long_talk_has_chapters_at_topic_changes() -> None:
    talk = topic_talk()
    summary = ExtractiveSummarizer(max_points=7).summarize(talk)
    assert summary == ExtractiveSummarizer(max_points=7).summarize(talk)  # deterministic
    assert 1 <= len(summary.key_points) <= 7
    assert_points_are_sentences(summary.key_points, talk)
    assert [p.start for p in summary.key_points] == sorted(p.start for p in summary.key_points)  # type: ignore[type-var]
    assert len({p.text for p in summary.key_points}) == len(summary.key_points)
    starts = [c.start for c in summary.chapters]
    assert starts[0] == 0.0 and len(starts) >= 3
    for change in (360.0, 720.0, 1080.0):
        assert min(abs(change - s) for s in starts) <= 60, starts
    assert all(0 < len(c.title) <= 61 for c in summary.chapters)
    assert summary.chapters[-1].end == pytest.approx(talk.duration)


def test_extractive_summary_of_one_or_two_sentences_and_of_nothing() -> None:
    one = make_transcript([Segment(1.0, 3.0, "Only one sentence here.")])
    summary = ExtractiveSummarizer().summarize(one)
    assert summary.abstract == "Only one sentence here." and summary.key_points[0].start == 1.0
    two = make_transcript([Segment(0, 2, "The cat sat down."), Segment(2, 4, "A dog barked loudly.")], language="de")
    assert len(ExtractiveSummarizer().summarize(two).key_points) == 2
    with pytest.raises(SummaryError, match=r"Nothing to summarize: the transcript is empty\."):
        ExtractiveSummarizer().summarize(make_transcript([Segment(0, 1, "  ")]))


def test_textrank_scores_the_hub_of_a_star_highest() -> None:
    vectors = np.array([[1.0, 1.0, 1.0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    vectors /= np.linalg.norm(vectors, axis=1)[:, None]
    scores = textrank(vectors)
    assert scores.sum() == pytest.approx(1.0) and int(np.argmax(scores)) == 0


# -- the OpenAI-compatible backend against a real loopback server ------------------------------------------
def test_openai_backend_posts_a_chat_completion(chat: ChatServer) -> None:
    chat.script.append(Scripted(content="Hello there."))
    backend = backend_for(chat, api_key=SecretStr("sk-abc"))
    from tubesum.summarize.base import ChatMessage

    assert backend.complete([ChatMessage("user", "Hi")], max_tokens=20) == "Hello there."
    (request,) = chat.requests
    assert request.body == {
        "model": "test-model",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 20,
        "temperature": 0.2,
    }
    assert request.headers["Authorization"] == "Bearer sk-abc"
    chat.script.append(Scripted(content="Again."))
    backend_for(chat).complete([ChatMessage("user", "Hi")], max_tokens=5)
    assert "Authorization" not in chat.requests[-1].headers
    assert backend.count_tokens("x" * 7) == 2 and estimate_tokens("x" * 8) == 3


def say(backend: OpenAIChatBackend) -> str:
    from tubesum.summarize.base import ChatMessage

    return backend.complete([ChatMessage("user", "Hi")], max_tokens=5)


def test_openai_backend_honours_retry_after_on_429(chat: ChatServer) -> None:
    chat.script += [Scripted(429, headers={"Retry-After": "1"}), Scripted(content="ok")]
    assert say(backend_for(chat)) == "ok"
    first, second = chat.requests
    assert second.at - first.at >= 0.9


def test_openai_backend_retries_server_errors(chat: ChatServer) -> None:
    chat.script += [Scripted(500), Scripted(503), Scripted(content="ok")]
    assert say(backend_for(chat)) == "ok"
    assert len(chat.requests) == 3


def test_openai_backend_gives_up_on_a_slow_endpoint_after_its_retries(chat: ChatServer) -> None:
    chat.script += [Scripted(content="late", delay=1.0)] * 2
    with pytest.raises(SummaryBackendError, match=r"no answer within 0\.3s \(2 attempts\)"):
        say(backend_for(chat, timeout=0.3, retries=1))
    assert len(chat.requests) == 2


def test_openai_backend_fails_at_once_on_401_and_never_shows_the_key(
    chat: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-very-secret-1234567890"
    chat.script += [Scripted(500, message="upstream saw {auth}"), Scripted(401, message="Invalid key {auth}")]
    backend = backend_for(chat, api_key=SecretStr(key))
    with caplog.at_level(logging.DEBUG), pytest.raises(SummaryBackendError) as caught:
        say(backend)
    assert len(chat.requests) == 2  # the 500 was retried, the 401 was not
    error = caught.value
    assert "HTTP 401: Invalid key Bearer ***" in str(error) and "\n" not in str(error)
    for text in (str(error), repr(error.to_dict()), caplog.text, repr(backend)):
        assert key not in text


def test_openai_backend_maps_a_dead_endpoint_and_a_bad_reply(chat: ChatServer) -> None:
    dead = OpenAIChatBackend("http://127.0.0.1:9", "m", api_key=None, timeout=1, retries=1, backoff=0.01)
    with pytest.raises(SummaryBackendError, match=r"cannot connect \(2 attempts\)"):
        say(dead)
    chat.script.append(Scripted(content=None))
    with pytest.raises(SummaryBackendError, match="no message text"):
        say(backend_for(chat))


# -- LLM map-reduce -------------------------------------------------------------------------------------------
def lecture(sentences: int = 60) -> Transcript:
    rng = random.Random(3)
    vocabulary = " ".join(TOPICS.values()).split()
    segments = []
    for i in range(sentences):
        words = " ".join(rng.choice(vocabulary) for _ in range(12))
        segments.append(Segment(i * 7.0, i * 7.0 + 6.5, f"Sentence {i} is about {words}."))
    return make_transcript(segments)


def fits(request: object, backend: OpenAIChatBackend) -> bool:
    body = request.body  # type: ignore[attr-defined]
    used = sum(backend.count_tokens(m["content"]) for m in body["messages"]) + body["max_tokens"]
    return bool(used <= backend.context_tokens)


def test_llm_summary_of_real_speech_cites_real_timestamps(chat: ChatServer, spoken: Transcript) -> None:
    summary = LlmSummarizer(backend_for(chat), max_points=5).summarize(spoken)
    (request,) = chat.requests  # short: one call, no reduce
    assert "Write in English." in request.system
    assert re.search(r"^\[00:0\d\] ", request.user, re.MULTILINE)
    assert (summary.method, summary.backend, summary.model, summary.language) == (
        "abstractive",
        "openai",
        "test-model",
        "en",
    )
    assert summary.abstract.startswith("A summary of")
    assert_points_are_sentences(summary.key_points, spoken)


def test_llm_long_transcript_maps_chunks_then_reduces_within_the_context(chat: ChatServer) -> None:
    talk = lecture()
    backend = backend_for(chat, context_tokens=1200)
    calls: list[tuple[float, float | None]] = []
    summary = LlmSummarizer(backend, max_points=4).summarize(
        talk, language="de", progress=lambda stage, done, total=None: calls.append((done, total))
    )
    maps = [r for r in chat.requests if r.user.startswith("Part ")]
    assert len(maps) >= 3 and len(chat.requests) == len(maps) + 1
    assert chat.requests[-1].user.startswith("Partial summaries")
    assert all(fits(r, backend) for r in chat.requests)
    assert all("Write in German." in r.system for r in chat.requests)
    assert calls[0] == (0, len(maps) + 1) and calls[-1] == (len(maps) + 1, len(maps) + 1)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert 1 <= len(summary.key_points) <= 4 and summary.language == "de"
    assert_points_are_sentences(summary.key_points, talk)


def test_llm_reduces_in_rounds_when_partials_do_not_fit_one_prompt(chat: ChatServer) -> None:
    backend = backend_for(chat, context_tokens=700)
    summary = LlmSummarizer(backend, max_points=3).summarize(lecture(80))
    reduces = [r for r in chat.requests if r.user.startswith("Partial summaries")]
    assert len(reduces) >= 3 and all(fits(r, backend) for r in chat.requests)
    assert summary.key_points and all(p.start is not None for p in summary.key_points)


def test_llm_key_points_get_no_time_unless_the_transcript_has_it(chat: ChatServer) -> None:
    talk = lecture(3)  # sentences start at 00:00, 00:07, 00:14
    reply = (
        '{"summary": "S.", "key_points": [{"text": "A", "timestamp": "00:08"}, {"text": "B", "timestamp": "59:00"}]}'
    )
    chat.script.append(Scripted(content=reply))
    a, b = LlmSummarizer(backend_for(chat)).summarize(talk).key_points
    assert (a.start, a.end) == (7.0, 13.5) and (b.start, b.end) == (None, None)


def test_llm_reply_without_json_gives_key_points_from_bullets(chat: ChatServer) -> None:
    chat.script.append(Scripted(content="The talk covers sauces.\n\n**Key points:**\n- Tomato first\n* [00:14] Basil"))
    summary = LlmSummarizer(backend_for(chat)).summarize(lecture(3))
    assert summary.abstract == "The talk covers sauces."
    assert [(p.text, p.start) for p in summary.key_points] == [("Tomato first", None), ("Basil", 14.0)]
    chat.script.append(Scripted(content="   \n"))
    with pytest.raises(SummaryBackendError, match="no summary or key points"):
        LlmSummarizer(backend_for(chat)).summarize(lecture(3))


def test_parse_reply_reads_fenced_embedded_and_string_key_points() -> None:
    fenced = 'Sure!\n```json\n{"abstract": "Short.", "points": ["[01:02] One", {"point": "Two", "time": 75}]}\n```'
    assert parse_reply(fenced) == ("Short.", [("One", "01:02"), ("Two", "01:15")])
    assert parse_reply('Result: {"summary": "x"} trailing {') == ("x", [])
    assert parse_reply('{"unrelated": 1}\n1. First\n2) Second') == ("", [("First", None), ("Second", None)])
    assert parse_reply('{"summary": "S", "key_points": [{"bad": 1}, "Kept"]}') == ("S", [("Kept", None)])
    assert parse_reply("") is None
    assert (format_timestamp(59.9), format_timestamp(3725)) == ("00:59", "1:02:05")


def test_llm_refuses_a_context_too_small_and_an_empty_transcript(chat: ChatServer) -> None:
    with pytest.raises(SummaryError, match="too small"):
        LlmSummarizer(backend_for(chat, context_tokens=300)).summarize(lecture(3))
    with pytest.raises(SummaryError, match="Nothing to summarize"):
        LlmSummarizer(backend_for(chat)).summarize(make_transcript([]))
    assert chat.requests == []


# -- factory -----------------------------------------------------------------------------------------------
def test_factory_builds_and_caches_each_backend(settings: Settings) -> None:
    extractive = factory.get_summarizer(settings, backend="extractive")
    assert isinstance(extractive, ExtractiveSummarizer)
    assert factory.get_summarizer(settings, backend="extractive") is extractive
    remote = factory.get_summarizer(settings.model_copy(update={"openai_model": "m1"}), backend="openai")
    assert isinstance(remote, LlmSummarizer) and isinstance(remote.backend, OpenAIChatBackend)
    assert remote.backend.model == "m1" and remote.name == "openai"
    with pytest.raises(ConfigError):
        factory.get_summarizer(settings, backend="nope")


def test_factory_auto_without_transformers_is_extractive(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert factory.resolve_backend("auto") == "extractive"
    assert isinstance(factory.get_summarizer(settings), ExtractiveSummarizer)


def test_factory_names_the_summarize_extra_when_transformers_is_missing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tubesum.summarize.transformers_backend", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"'summarize' extra \(transformers\)") as caught:
        factory.get_summarizer(settings, backend="transformers")
    assert caught.value.details["extra"] == "summarize"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert isinstance(factory.get_summarizer(settings, backend="auto"), ExtractiveSummarizer)


def test_summarize_transcript_adds_the_summary(chat: ChatServer, settings: Settings) -> None:
    configured = settings.model_copy(
        update={"summary_backend": "openai", "openai_base_url": chat.base_url, "summary_language": "fr"}
    )
    talk = lecture(4)
    summarized = factory.summarize_transcript(talk, settings=configured)
    assert talk.summary is None and summarized.segments == talk.segments
    assert summarized.summary is not None and summarized.summary.language == "fr"
    assert "Write in French." in chat.requests[0].system


def test_auto_falls_back_to_extractive_when_the_local_model_is_not_downloaded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tubesum.errors import ModelNotFoundError
    from tubesum.summarize import factory

    def not_downloaded(_settings: Settings) -> None:
        raise ModelNotFoundError("Model 'Qwen/Qwen2.5-1.5B-Instruct' is not downloaded.")

    factory.clear_summarizers()
    monkeypatch.setattr(factory, "resolve_backend", lambda name: "transformers")
    monkeypatch.setattr(factory, "_transformers_backend", not_downloaded)
    assert factory.get_summarizer(settings.model_copy(update={"summary_backend": "auto"})).name == "extractive"
    with pytest.raises(ModelNotFoundError):
        factory.get_summarizer(settings.model_copy(update={"summary_backend": "transformers"}))
    factory.clear_summarizers()
