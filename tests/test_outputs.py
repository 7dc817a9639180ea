"""Output writers: txt, srt, vtt, json and md, read back with real parsers (srt, webvtt-py, jsonschema,
markdown-it), and every format rendered from one real tiny.en transcript."""

from __future__ import annotations

import dataclasses
import html
import itertools
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import srt
import webvtt
from markdown_it import MarkdownIt

from conftest import SPEECH_WORDS, word_overlap
from tubesum.config import OUTPUT_FORMATS
from tubesum.errors import OutputError
from tubesum.outputs import (
    CONTENT_TYPES,
    EXTENSIONS,
    from_json,
    load_schema,
    render,
    to_json,
    to_markdown,
    to_srt,
    to_txt,
    to_vtt,
)
from tubesum.outputs.subtitles import LINE_WIDTH, SubtitleLayout, build_cues
from tubesum.records import MediaInfo, Segment, Source, Transcript, Word

VIDEO_ID = "dQw4w9WgXcQ"
WATCH = f"https://www.youtube.com/watch?v={VIDEO_ID}"
LONG_WORDS = [
    *("The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and", "then", "it", "runs", "away"),
    *("into", "the", "deep", "dark", "forest", "while", "everyone", "in", "the", "village", "watches", "in"),
    *("complete", "silence"),
]
LONG_TEXT = (
    "Without word timings this long segment must still be split into several cues, each cue taking "
    "a share of the time that matches its share of the characters in the segment."
)


def _words(text: list[str], start: float, step: float) -> tuple[Word, ...]:
    return tuple(
        Word(start + i * step, start + i * step + step * 0.8, (" " if i else "") + w, 0.9) for i, w in enumerate(text)
    )


@pytest.fixture
def transcript() -> Transcript:
    """Speakers, words, a zero-length segment, a blank one, long ones with and without words, unicode."""
    segments = (
        Segment(
            0.0,
            2.5,
            " Hello <b>world</b> & friends -->",
            speaker="SPEAKER_00",
            words=_words(["Hello", "<b>world</b>", "&", "friends", "-->"], 0.0, 0.5),
        ),
        Segment(2.5, 2.5, "Zero length.", speaker="SPEAKER_00"),
        Segment(2.8, 16.0, " " + " ".join(LONG_WORDS), speaker="SPEAKER_01", words=_words(LONG_WORDS, 2.8, 0.5)),
        Segment(16.0, 16.5, "   "),
        Segment(16.5, 28.5, LONG_TEXT),
        Segment(29.0, 33.0, "Grüße aus Köln — ünïcödé *stars* [link](javascript:alert(1)) #tag"),
    )
    return Transcript(
        source=Source(kind="youtube", original=f"https://youtu.be/{VIDEO_ID}", url=WATCH, video_id=VIDEO_ID),
        segments=segments,
        language="en",
        origin="whisper",
        info=MediaInfo(
            title="My *great* <video> [1] # _x_",
            duration=33.0,
            uploader="Some_One",
            upload_date="20240102",
            webpage_url=WATCH,
        ),
        model="tiny.en",
        language_probability=0.97,
        tubesum_version="0.1.0",
        created_at="2025-01-02T03:04:05+00:00",
    )


def srt_cues(text: str) -> list[srt.Subtitle]:
    return list(srt.parse(text))


def seconds(value: timedelta) -> float:
    return value.total_seconds()


# -- the dispatcher -----------------------------------------------------------------------------------------
def test_content_types_and_extensions_cover_every_format() -> None:
    assert set(CONTENT_TYPES) == set(EXTENSIONS) == set(OUTPUT_FORMATS)
    assert CONTENT_TYPES["srt"] == "application/x-subrip"
    assert CONTENT_TYPES["txt"] == "text/plain; charset=utf-8"
    assert all(ext == fmt for fmt, ext in EXTENSIONS.items())  # without the dot


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "json", "md"])
def test_render_text_formats_is_utf8_of_the_writer(transcript: Transcript, fmt: str) -> None:
    writers = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json, "md": to_markdown}
    data = render(transcript, fmt)  # type: ignore[arg-type]
    assert data == writers[fmt](transcript).encode("utf-8")
    assert "Köln" in data.decode("utf-8")


def test_render_unknown_format_raises_output_error(transcript: Transcript) -> None:
    with pytest.raises(OutputError, match="docx"):
        render(transcript, "docx")  # type: ignore[arg-type]


# -- txt ----------------------------------------------------------------------------------------------------
def test_txt_is_one_segment_per_line_with_speakers(transcript: Transcript) -> None:
    assert to_txt(transcript).splitlines() == [
        "SPEAKER_00: Hello <b>world</b> & friends -->",
        "SPEAKER_00: Zero length.",
        "SPEAKER_01: " + " ".join(LONG_WORDS),
        LONG_TEXT,
        "Grüße aus Köln — ünïcödé *stars* [link](javascript:alert(1)) #tag",
    ]


def test_txt_of_an_empty_transcript_is_empty(transcript: Transcript) -> None:
    assert to_txt(transcript.with_segments(())) == ""


# -- srt ----------------------------------------------------------------------------------------------------
def test_srt_round_trips_through_the_srt_parser(transcript: Transcript) -> None:
    text = to_srt(transcript)
    cues = srt_cues(text)
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))
    assert srt.compose(cues, reindex=False) == text
    assert text.startswith("1\n00:00:00,000 --> 00:00:02,500\nSPEAKER_00: Hello\n<b>world</b> & friends ->\n\n2\n")


def test_srt_cues_have_positive_duration_and_at_most_two_short_lines(transcript: Transcript) -> None:
    for cue in srt_cues(to_srt(transcript)):
        assert cue.end > cue.start
        lines = cue.content.split("\n")
        assert 1 <= len(lines) <= 2
        assert all(len(line) <= LINE_WIDTH for line in lines)


def test_srt_zero_length_segment_ends_at_the_next_segment(transcript: Transcript) -> None:
    zero = next(c for c in srt_cues(to_srt(transcript)) if "Zero length." in c.content)
    assert (seconds(zero.start), seconds(zero.end)) == (2.5, 2.8)  # min(next start, start + 0.5)


def test_srt_zero_length_segment_gets_half_a_second_when_nothing_follows(transcript: Transcript) -> None:
    only = transcript.with_segments((Segment(5.0, 4.0, "Backwards."),))
    cue = srt_cues(to_srt(only))[0]
    assert (seconds(cue.start), seconds(cue.end)) == (5.0, 5.5)


def test_srt_splits_a_long_segment_at_word_timings(transcript: Transcript) -> None:
    cues = [c for c in srt_cues(to_srt(transcript)) if c.content.startswith("SPEAKER_01")]
    assert len(cues) > 1
    word_starts = {round(w.start, 3) for w in transcript.segments[2].words}
    assert seconds(cues[0].start) == 2.8 and seconds(cues[-1].end) == 16.0
    for before, after in itertools.pairwise(cues):
        assert before.end == after.start  # contiguous
        assert round(seconds(after.start), 3) in word_starts
    spoken = " ".join(c.content.removeprefix("SPEAKER_01: ").replace("\n", " ") for c in cues)
    assert spoken == " ".join(LONG_WORDS)


def test_srt_splits_a_long_segment_without_words_by_characters(transcript: Transcript) -> None:
    cues = [c for c in srt_cues(to_srt(transcript)) if 16.5 <= seconds(c.start) < 28.5]
    assert len(cues) > 1
    assert seconds(cues[0].start) == 16.5 and seconds(cues[-1].end) == 28.5
    assert " ".join(c.content.replace("\n", " ") for c in cues) == LONG_TEXT
    first_share = len(cues[0].content) / len(LONG_TEXT)
    assert seconds(cues[0].end) - 16.5 == pytest.approx(12.0 * first_share, abs=0.3)


def test_srt_two_line_cues_are_balanced(transcript: Transcript) -> None:
    one = transcript.with_segments((Segment(0, 4, "one two three four five six seven eight nine ten eleven"),))
    assert srt_cues(to_srt(one))[0].content == "one two three four five six\nseven eight nine ten eleven"


def test_srt_counts_east_asian_characters_as_two_columns(transcript: Transcript) -> None:
    text = "日本語のテキストはスペースがありません。" * 3
    cues = srt_cues(to_srt(transcript.with_segments((Segment(0, 9, text),))))
    assert "".join(c.content.replace("\n", "") for c in cues) == text
    assert all(len(line) <= LINE_WIDTH // 2 for c in cues for line in c.content.split("\n"))


def test_build_cues_keeps_room_for_the_speaker_prefix() -> None:
    segment = Segment(0, 10, "word " * 30, speaker="A_VERY_LONG_SPEAKER_NAME")
    for cue in build_cues([segment], speaker_prefix=True):
        assert len(f"{cue.speaker}: {cue.lines[0]}") <= LINE_WIDTH


@pytest.mark.parametrize(("width", "lines"), [(20, 1), (24, 3), (60, 2)])
def test_subtitle_layout_sets_line_width_and_count(transcript: Transcript, width: int, lines: int) -> None:
    text = "every word of this long segment must still be on screen once and in order " * 3
    speech = transcript.with_segments((Segment(0, 30, text.strip()),))
    layout = SubtitleLayout(width=width, lines=lines)
    cues = srt_cues(to_srt(speech, layout=layout))
    shown = [line for c in cues for line in c.content.split("\n")]
    assert all(len(line) <= width for line in shown) and max(len(c.content.split("\n")) for c in cues) == lines
    assert " ".join(shown) == text.strip()
    vtt = webvtt.from_string(to_vtt(speech, layout=layout)).captions
    assert max(len(c.text.split("\n")) for c in vtt) == lines
    assert render(speech, "srt", layout=layout).decode() == to_srt(speech, layout=layout)


def test_srt_of_an_empty_transcript_is_empty(transcript: Transcript) -> None:
    assert to_srt(transcript.with_segments((Segment(0, 1, " "),))) == ""


# -- vtt ----------------------------------------------------------------------------------------------------
def without_speakers(transcript: Transcript) -> Transcript:
    return transcript.with_segments(tuple(dataclasses.replace(s, speaker=None) for s in transcript.segments))


def test_vtt_has_the_same_cues_as_srt_when_there_are_no_speakers(transcript: Transcript) -> None:
    plain = without_speakers(transcript)
    text = to_vtt(plain)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n")
    captions = webvtt.from_string(text).captions
    subtitles = srt_cues(to_srt(plain))
    assert len(captions) == len(subtitles)
    for caption, subtitle in zip(captions, subtitles, strict=True):
        assert caption.start_in_seconds == int(seconds(subtitle.start))
        assert html.unescape(caption.text).replace("-->", "->") == subtitle.content
    vtt_times = re.findall(r"^(\S+) --> (\S+)$", text, re.M)
    srt_times = re.findall(r"^(\S+) --> (\S+)$", to_srt(plain), re.M)
    assert vtt_times == [(a.replace(",", "."), b.replace(",", ".")) for a, b in srt_times]


def test_vtt_round_trips_cues_voices_and_text(transcript: Transcript) -> None:
    captions = webvtt.from_string(to_vtt(transcript)).captions
    cues = build_cues(transcript.segments)  # no speaker prefix: the voice tag takes no room on screen
    assert len(captions) == len(cues)
    for caption, cue in zip(captions, cues, strict=True):
        assert (round(caption.start_in_seconds), caption.voice) == (cue.start_ms // 1000, cue.speaker)
        assert caption.end == f"00:00:{cue.end_ms // 1000:02d}.{cue.end_ms % 1000:03d}"
        assert html.unescape(caption.text) == "\n".join(cue.lines)


def test_vtt_uses_voice_tags_and_escapes_markup(transcript: Transcript) -> None:
    text = to_vtt(transcript)
    assert "<v SPEAKER_00>Hello &lt;b&gt;world&lt;/b&gt; &amp; friends --&gt;" in text
    assert "<b>" not in text
    body = text.split("\n", 2)[2]
    assert "-->" not in "".join(line for line in body.splitlines() if not re.match(r"\d\d:\d\d", line))


def test_vtt_escapes_a_hostile_speaker_name(transcript: Transcript) -> None:
    hostile = transcript.with_segments((Segment(0, 1, "hi", speaker="x><c.evil>boo</c"),))
    assert "<v x&gt;&lt;c.evil&gt;boo&lt;/c>hi" in to_vtt(hostile)
    assert webvtt.from_string(to_vtt(hostile)).captions[0].voice == "x&gt;&lt;c.evil&gt;boo&lt;/c"


# -- json ---------------------------------------------------------------------------------------------------
def test_json_validates_against_the_shipped_schema(transcript: Transcript) -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads(to_json(transcript))
    jsonschema.Draft202012Validator(schema).validate(document)


def test_json_has_the_convenient_top_level_fields_in_a_stable_order(transcript: Transcript) -> None:
    text = to_json(transcript)
    document = json.loads(text)
    assert list(document) == [
        "format_version",
        "tubesum_version",
        "created_at",
        "source",
        "media",
        "video_id",
        "title",
        "duration",
        "language",
        "language_probability",
        "model",
        "origin",
        "diarization",
        "speakers",
        "summary",
        "segments",
        "text",
    ]
    assert document["video_id"] == VIDEO_ID
    assert document["title"] == "My *great* <video> [1] # _x_"
    assert document["text"] == transcript.text
    assert [s["id"] for s in document["segments"]] == list(range(len(transcript.segments)))
    assert document["segments"][0]["words"][1] == {
        "start": 0.5,
        "end": 0.9,
        "text": " <b>world</b>",
        "probability": 0.9,
        "speaker": None,
    }
    assert "Köln" in text and text.startswith('{\n  "format_version": 1,') and text.endswith("}\n")


def test_json_round_trips_to_an_equal_transcript(transcript: Transcript) -> None:
    assert from_json(to_json(transcript)) == transcript
    file_source = dataclasses.replace(transcript, source=Source(kind="file", original="a.wav", path=Path("a.wav")))
    assert from_json(to_json(file_source).encode()) == file_source


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("segments"),
        lambda d: d.update(origin="telepathy"),
        lambda d: d["segments"][0].update(start=-1),
        lambda d: d["segments"][0].pop("text"),
        lambda d: d["segments"][0]["words"][0].update(probability=1.5),
        lambda d: d["source"].update(kind="ftp"),
        lambda d: d.update(unexpected=True),
        lambda d: d.update(duration="long"),
    ],
    ids=[
        "no-segments",
        "bad-origin",
        "negative-start",
        "segment-without-text",
        "probability>1",
        "bad-kind",
        "unknown-key",
        "duration-string",
    ],
)
def test_json_schema_rejects_a_broken_document(transcript: Transcript, breakage) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(to_json(transcript))
    breakage(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, load_schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"segments": []}', '{"format_version": 99}'])
def test_from_json_rejects_what_is_not_a_transcript(text: str) -> None:
    with pytest.raises(OutputError, match="Not a tubesum transcript"):
        from_json(text)


def test_schema_ships_inside_the_package() -> None:
    import tubesum.outputs

    path = Path(tubesum.outputs.__file__).with_name("transcript.schema.json")
    assert path.is_file()
    assert json.loads(path.read_text(encoding="utf-8")) == load_schema()


# -- md -----------------------------------------------------------------------------------------------------
def md_html(text: str) -> str:
    return str(MarkdownIt("commonmark").render(text))


def test_md_has_title_metadata_and_timestamp_links(transcript: Transcript) -> None:
    md = to_markdown(transcript)
    assert md.startswith("# My \\*great\\* \\<video\\> \\[1\\] \\# \\_x\\_\n\n")
    assert f"- **Source:** [{WATCH}]({WATCH})" in md
    assert "- **Duration:** 00:00:33" in md
    assert "- **Language:** en" in md
    assert "- **Model:** tiny.en" in md
    assert "- **Transcript:** Whisper speech recognition" in md
    assert f"[[00:00]]({WATCH}&t=0s) **SPEAKER\\_00:** Hello" in md
    assert f"[[00:02]]({WATCH}&t=2s) **SPEAKER\\_01:** The quick" in md


def test_md_renders_internet_text_literally(transcript: Transcript) -> None:
    page = md_html(to_markdown(transcript))
    assert "<h1>My *great* &lt;video&gt; [1] # _x_</h1>" in page
    assert "<b>" not in page and "<em>" not in page
    assert "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', page))
    assert f'<a href="{html.escape(WATCH)}&amp;t=16s">[00:16]</a>' in page
    assert "<strong>SPEAKER_01:</strong>" in page


def test_md_of_a_file_source_has_no_links(transcript: Transcript) -> None:
    local = dataclasses.replace(
        transcript,
        source=Source(kind="file", original="talk.mp3", path=Path("talk.mp3")),
        info=MediaInfo(),
        origin="captions",
        model=None,
    )
    md = to_markdown(local)
    assert md.startswith("# talk.mp3\n")
    assert "- **Source:** talk.mp3" in md
    assert "<a " not in md_html(md)
    assert "\n\n[00:00] **SPEAKER\\_00:** Hello" in md
    assert "- **Transcript:** YouTube captions" in md and "**Model:**" not in md


def test_md_never_links_a_non_http_url(transcript: Transcript) -> None:
    hostile = dataclasses.replace(
        transcript,
        source=Source(kind="url", original="javascript:alert(1)", url="javascript:alert(1)"),
        info=MediaInfo(title="x"),
    )
    assert 'href="javascript' not in md_html(to_markdown(hostile))


def test_md_percent_encodes_link_breaking_characters(transcript: Transcript) -> None:
    odd = dataclasses.replace(
        transcript, source=Source(kind="url", original="u", url="https://e.x/a b)(c<d>"), info=MediaInfo(title="x")
    )
    assert '<a href="https://e.x/a%20b%29%28c%3Cd%3E">' in md_html(to_markdown(odd))


def test_md_paragraphs_break_on_speaker_change_and_every_minute(transcript: Transcript) -> None:
    segments = tuple(
        Segment(i * 5.0, i * 5.0 + 5, f"Sentence {i} goes on", speaker="S1" if i < 30 else "S2") for i in range(40)
    )
    md = to_markdown(transcript.with_segments(segments))
    stamps = re.findall(r"^\[\[(\d\d:\d\d)\]\]", md, re.M)
    assert stamps == ["00:00", "01:00", "02:00", "02:30"]
    assert md.count("**S1:**") == 1 and md.count("**S2:**") == 1


def test_md_paragraph_ends_at_a_sentence_after_thirty_seconds(transcript: Transcript) -> None:
    segments = tuple(Segment(i * 10.0, i * 10.0 + 10, f"Part {i}." if i == 3 else f"part {i}") for i in range(8))
    stamps = re.findall(r"^\[\[(\d\d:\d\d)\]\]", to_markdown(transcript.with_segments(segments)), re.M)
    assert stamps == ["00:00", "00:40"]


def test_md_of_an_empty_transcript_says_so(transcript: Transcript) -> None:
    assert to_markdown(transcript.with_segments(())).endswith("## Transcript\n\n*No speech was transcribed.*\n")


# -- one real transcript, every format ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_transcript(speech_wav: Path, tiny_model_path: Path) -> Iterator[Transcript]:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(tiny_model_path), device="cpu", compute_type="int8")
    pieces, info = model.transcribe(str(speech_wav), beam_size=5, word_timestamps=True, vad_filter=True)
    segments = tuple(
        Segment(s.start, s.end, s.text, words=tuple(Word(w.start, w.end, w.word, w.probability) for w in s.words or ()))
        for s in pieces
    )
    yield Transcript(
        source=Source(kind="file", original=str(speech_wav), path=speech_wav),
        segments=segments,
        language=info.language,
        origin="whisper",
        model="tiny.en",
        language_probability=info.language_probability,
        duration=info.duration,
        info=MediaInfo(title="espeak sample", duration=info.duration),
    )


def test_every_format_renders_from_a_real_whisper_transcript(real_transcript: Transcript) -> None:
    assert word_overlap(SPEECH_WORDS, real_transcript.text) >= 0.5
    outputs = {fmt: render(real_transcript, fmt) for fmt in OUTPUT_FORMATS}
    assert word_overlap(SPEECH_WORDS, outputs["txt"].decode()) >= 0.5
    assert word_overlap(SPEECH_WORDS, outputs["md"].decode()) >= 0.5
    assert outputs["pdf"].startswith(b"%PDF-")

    subtitles = srt_cues(outputs["srt"].decode())
    captions = webvtt.from_string(outputs["vtt"].decode()).captions
    assert len(subtitles) == len(captions) >= len(real_transcript.segments)
    assert all(s.end > s.start for s in subtitles)
    assert seconds(subtitles[-1].end) <= real_transcript.duration + 0.001  # type: ignore[operator]
    assert word_overlap(SPEECH_WORDS, " ".join(s.content for s in subtitles)) >= 0.5
    assert word_overlap(SPEECH_WORDS, " ".join(c.text for c in captions)) >= 0.5

    document = json.loads(outputs["json"])
    jsonschema.validate(document, load_schema(), cls=jsonschema.Draft202012Validator)
    assert all(segment["words"] for segment in document["segments"])
    assert from_json(outputs["json"]) == real_transcript


def test_long_segment_splits_into_even_cues_without_a_stub() -> None:
    # 88 columns: just over one two-line cue
    text = "Welcome to the show. This sample recording is transcribed on your own computer, without"
    segment = Segment(start=0.0, end=6.0, text=text)
    cues = build_cues([segment])
    assert len(cues) == 2
    widths = [sum(len(line) for line in cue.lines) for cue in cues]
    assert min(widths) >= max(widths) / 2, widths  # no one-word stub at the end
    assert cues[0].end_ms == cues[1].start_ms and cues[-1].end_ms == 6000


def summarized(transcript: Transcript, *, method: str = "extractive") -> Transcript:
    from tubesum.records import Chapter, KeyPoint, Summary

    summary = Summary(
        abstract="A talk about *foxes* and <dogs>.",
        key_points=(KeyPoint("The quick brown fox", 0.5, 2.0), KeyPoint("A point without a time")),
        chapters=(Chapter("Opening", 0.0, 30.0),),
        method=method,  # type: ignore[arg-type]
        backend="extractive" if method == "extractive" else "openai",
        model=None if method == "extractive" else "llama3.2",
        language="en",
    )
    return dataclasses.replace(transcript, summary=summary)


def test_summary_in_markdown_with_timestamp_links_and_an_extractive_label(transcript: Transcript) -> None:
    md = to_markdown(summarized(transcript))
    head, _, body = md.partition("## Transcript")
    assert "## Summary" in head and "*Extractive summary: key sentences picked from the transcript" in head
    assert "A talk about \\*foxes\\* and \\<dogs\\>." in head
    assert f"- [[00:00]](https://www.youtube.com/watch?v={VIDEO_ID}&t=0s) The quick brown fox" in head
    assert "- A point without a time" in head
    assert "### Chapters" in head and body.strip()
    assert "## Summary" not in to_markdown(transcript), "no summary section when none was made"


def test_summary_in_json_validates_and_round_trips(transcript: Transcript) -> None:
    for method in ("extractive", "abstractive"):
        text = to_json(summarized(transcript, method=method))
        document = json.loads(text)
        jsonschema.validate(document, load_schema())
        assert document["summary"]["method"] == method
        assert from_json(text).summary == summarized(transcript, method=method).summary
    broken = json.loads(to_json(summarized(transcript)))
    broken["summary"]["method"] = "vibes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, load_schema())


def test_summary_in_the_pdf_report(transcript: Transcript) -> None:
    pytest.importorskip("cairo")
    from tubesum.outputs.pdf import layout

    pages = layout(summarized(transcript), measure=lambda text, style: len(text) * style.size * 0.5)
    texts = [item.text for item in pages[0] if hasattr(item, "text")]
    assert "Summary" in texts and "Key points" in texts and "Chapters" in texts
    assert texts.index("Summary") < texts.index("Key points")
