"""captions.py: parsers checked against webvtt-py/srt, track selection table, real yt-dlp on loopback pages."""

from __future__ import annotations

import html
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import srt
import webvtt

from tubesum.errors import CaptionsUnavailableError, UnsafeUrlError, VideoUnavailableError
from tubesum.pipeline.captions import (
    Track,
    captions_for_mode,
    fetch_captions,
    parse_captions,
    select_track,
)
from tubesum.records import Source

pytestmark = pytest.mark.usefixtures("loopback_dns_only")


@pytest.fixture(autouse=True)
def _no_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Captions must never run speech recognition: any Whisper call fails the test."""
    faster_whisper = pytest.importorskip("faster_whisper")

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Whisper ran during a captions test")

    monkeypatch.setattr(faster_whisper.WhisperModel, "transcribe", boom)
    monkeypatch.setattr(faster_whisper.WhisperModel, "__init__", boom)


def texts(segments: tuple[Any, ...]) -> list[str]:
    return [s.text for s in segments]


# -- parsers ------------------------------------------------------------------------------------------------
HUMAN_VTT = """\ufeffWEBVTT
Kind: captions

STYLE
::cue { color: yellow }

NOTE a comment --- not a cue

intro
00:01.000 --> 00:03.500 align:start position:10%
<v Alice>The <b>quick</b> brown fox</v>

00:00:03.500 --> 00:00:06.250
jumps over the lazy dog &amp; cat
&lt;applause&gt;

00:00:07.000 --> 00:00:08.000
{blank}

01:00:00.000 --> 01:00:01.000
<c.yellow>Tomorrow</c> morning&nbsp;we go
""".replace("{blank}", "   ")


def test_parse_vtt_matches_webvtt_py_and_cleans_markup() -> None:
    segments = parse_captions(HUMAN_VTT, "vtt")
    reference = [c for c in webvtt.from_buffer(io.StringIO(HUMAN_VTT.lstrip("\ufeff"))) if c.text.strip()]
    assert [(s.start, s.end) for s in segments] == [
        (c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000) for c in reference
    ]
    assert texts(segments) == [" ".join(html.unescape(c.text).replace("\xa0", " ").split()) for c in reference]
    assert texts(segments) == [
        "The quick brown fox",
        "jumps over the lazy dog & cat <applause>",
        "Tomorrow morning we go",
    ]
    assert segments[-1].start == 3600.0


def test_parse_youtube_rolling_auto_vtt_does_not_double_text() -> None:
    rolling = "\n".join(
        [
            "WEBVTT",
            "Kind: captions",
            "Language: en",
            "",
            "00:00:00.160 --> 00:00:02.070 align:start position:0%",
            " ",
            "the<00:00:00.400><c> quick</c><00:00:00.640><c> brown</c><00:00:00.880><c> fox</c>",
            "",
            "00:00:02.070 --> 00:00:02.080 align:start position:0%",
            "the quick brown fox",
            " ",
            "",
            "00:00:02.080 --> 00:00:04.230 align:start position:0%",
            "the quick brown fox",
            "jumps<00:00:02.560><c> over</c><00:00:02.800><c> the</c>"
            "<00:00:03.000><c> lazy</c><00:00:03.200><c> dog</c>",
            "",
            "00:00:04.230 --> 00:00:04.240 align:start position:0%",
            "jumps over the lazy dog",
            " ",
            "",
        ]
    )
    segments = parse_captions(rolling, "vtt")
    assert texts(segments) == ["the quick brown fox", "jumps over the lazy dog"]
    assert [(s.start, s.end) for s in segments] == [(0.16, 2.08), (2.08, 4.24)]


def test_parse_srt_matches_srt_library() -> None:
    data = (
        "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> {\\an8}there\r\n\r\n"
        "2\r\n00:00:02,500 --> 00:00:04,000\r\nsecond line\r\nwraps here\r\n\r\n"
        '3\r\n00:00:04,000 --> 00:00:05,000\r\n<font color="red"></font>\r\n\r\n'
    )
    segments = parse_captions(data.encode("utf-8"), "srt")
    reference = [s for s in srt.parse(data) if s.content.strip() and "font" not in s.content]
    assert [(s.start, s.end) for s in segments] == [(r.start.total_seconds(), r.end.total_seconds()) for r in reference]
    assert texts(segments) == ["Hello there", "second line wraps here"]


SRV3 = """<?xml version="1.0" encoding="utf-8" ?><timedtext format="3">
<head><ws id="1" ju="0"/></head>
<body>
<p t="500" d="1500" w="1">The <s t="0" ac="0">quick</s><s t="300"> brown</s> fox</p>
<p t="2000" d="1" w="1">
</p>
<p t="2000" d="2250">jumps over the lazy dog &amp; cat</p>
</body></timedtext>"""

JSON3 = json.dumps(
    {
        "wireMagic": "pb3",
        "events": [
            {"tStartMs": 0, "dDurationMs": 5000, "id": 1, "wpWinPosId": 1},
            {
                "tStartMs": 500,
                "dDurationMs": 1500,
                "wWinId": 1,
                "segs": [
                    {"utf8": "The"},
                    {"utf8": " quick", "tOffsetMs": 200},
                    {"utf8": " brown fox", "tOffsetMs": 400},
                ],
            },
            {"tStartMs": 2000, "dDurationMs": 10, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
            {"tStartMs": 2000, "dDurationMs": 2250, "wWinId": 1, "segs": [{"utf8": "jumps over the lazy dog <3"}]},
        ],
    }
)

TTML = """<?xml version="1.0" encoding="utf-8"?>
<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="en"><body><div>
<p begin="00:00:00.500" end="00:00:02.000">The quick<br/>brown fox</p>
<p begin="2s" dur="2250ms">jumps over the lazy dog</p>
<p begin="5s" end="6s"> </p>
</div></body></tt>"""


@pytest.mark.parametrize(("data", "fmt"), [(SRV3, "srv3"), (JSON3, "json3"), (TTML, "ttml")])
def test_parse_youtube_xml_and_json_formats(data: str, fmt: str) -> None:
    segments = parse_captions(data, fmt)
    assert [(s.start, s.end) for s in segments] == [(0.5, 2.0), (2.0, 4.25)]
    assert texts(segments)[0] == "The quick brown fox"
    assert texts(segments)[1].startswith("jumps over the lazy dog")


def test_parse_keeps_literal_angle_brackets_in_json3_and_decodes_srv3_entities() -> None:
    assert texts(parse_captions(JSON3, "json3"))[1] == "jumps over the lazy dog <3"
    assert texts(parse_captions(SRV3, "srv3"))[1] == "jumps over the lazy dog & cat"


def test_parse_refuses_unknown_formats_xml_with_entities_and_garbage() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        parse_captions("x", "ass")
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa">]><timedtext><body><p t="0">&a;</p></body></timedtext>'
    )
    with pytest.raises(ValueError, match="DTD"):
        parse_captions(laughs, "srv3")
    with pytest.raises(ValueError):
        parse_captions("{not json", "json3")
    assert parse_captions("WEBVTT\n\n", "vtt") == ()


# -- track selection ----------------------------------------------------------------------------------------
def track(ext: str, lang: str = "en") -> dict[str, str]:
    return {"ext": ext, "url": f"https://example.test/{lang}.{ext}", "name": lang}


ALL_FORMATS = [track("vtt"), track("srt"), track("srv3"), track("json3"), track("ttml")]


@pytest.mark.parametrize(
    ("info", "language", "allow_auto", "expected"),
    [
        ({"subtitles": {"en": ALL_FORMATS}}, "en", False, ("en", "json3", False)),
        ({"subtitles": {"en": [track("vtt"), track("srv3")]}}, None, False, ("en", "srv3", False)),
        ({"subtitles": {"en-US": [track("vtt")]}}, "en", False, ("en-US", "vtt", False)),
        ({"subtitles": {"en-GB": [track("vtt")], "en": [track("srt")]}}, "en", False, ("en", "srt", False)),
        ({"subtitles": {"en": [track("vtt")], "en-US": [track("srt")]}}, "en-US", False, ("en-US", "srt", False)),
        (
            {"subtitles": {"de": [track("vtt")], "en": [track("vtt")]}, "language": "de"},
            None,
            False,
            ("de", "vtt", False),
        ),
        ({"subtitles": {"de": [track("vtt")]}}, None, False, None),  # no language reported: English wanted
        ({"subtitles": {"live_chat": [{"ext": "json", "url": "https://x"}]}}, "en", True, None),
        (
            {"subtitles": {"en": [{"ext": "vtt", "url": "https://x/a.m3u8", "protocol": "m3u8_native"}]}},
            "en",
            False,
            None,
        ),
        ({"subtitles": {"en": [{"ext": "vtt", "data": "WEBVTT\n"}]}}, "en", False, ("en", "vtt", False)),
        ({"automatic_captions": {"en-orig": [track("json3")], "en": [track("json3")]}}, "en", False, None),
        (
            {"automatic_captions": {"en-orig": [track("vtt"), track("json3")], "de": [track("vtt")]}},
            "en",
            True,
            ("en-orig", "json3", True),
        ),
        ({"automatic_captions": {"en-orig": [track("vtt")], "de": [track("vtt")]}}, "de", True, None),
        ({"automatic_captions": {"fr": [track("vtt")]}}, "fr", True, ("fr", "vtt", True)),
        (
            {
                "subtitles": {"en": [track("vtt")], "de": [track("srt")]},
                "automatic_captions": {"de-orig": [track("vtt")]},
            },
            None,
            False,
            ("de", "srt", False),
        ),  # the -orig track tells the spoken language
        (
            {"subtitles": {"en": [track("srt")]}, "automatic_captions": {"en-orig": [track("json3")]}},
            "en",
            True,
            ("en", "srt", False),
        ),
        ({}, "en", True, None),
    ],
)
def test_select_track_table(
    info: dict[str, Any], language: str | None, allow_auto: bool, expected: tuple[str, str, bool] | None
) -> None:
    chosen = select_track(info, language=language, allow_auto=allow_auto)
    assert (None if chosen is None else (chosen.key, chosen.ext, chosen.auto)) == expected


def test_track_language_drops_orig_and_youtube_track_ids() -> None:
    assert Track(key="en-orig", ext="vtt", auto=True).language == "en"
    assert Track(key="en-nP7-2PuUl7o", ext="vtt", auto=False).language == "en"
    assert Track(key="pt-BR", ext="vtt", auto=False).language == "pt-BR"


# -- fetching through yt-dlp on loopback --------------------------------------------------------------------
VTT_TEXT = (
    "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nThe quick brown fox\n\n00:00:02.000 --> 00:00:04.250\n"
    "jumps over the lazy dog.\n"
)


def page(server: Any, *tracks: tuple[str, str, str]) -> Source:
    """Serve an HTML5 page whose <video> has the given (srclang, src, body) tracks; return its Source."""
    parts = []
    for lang, src, body in tracks:
        if body:
            (server.root / src).write_text(body, encoding="utf-8")
        parts.append(f'<track kind="subtitles" srclang="{lang}" src="{src}">')
    (server.root / "speech.mp4").write_bytes(b"not really a video")
    (server.root / "watch.html").write_text(
        f'<html><head><title>Talk</title></head><body><video src="speech.mp4">{"".join(parts)}</video></body></html>'
    )
    url = server.url("watch.html")
    return Source(kind="url", url=url, original=url)


def test_fetch_captions_returns_human_captions_without_media_or_whisper(http_server, settings, tmp_path) -> None:
    source = page(http_server, ("en", "subs.vtt", VTT_TEXT))
    started = time.monotonic()
    transcript = fetch_captions(source, settings=settings, workdir=tmp_path / "job", language=None)
    assert time.monotonic() - started < 10
    assert transcript is not None
    assert transcript.origin == "captions" and transcript.model is None and transcript.language == "en"
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.5, 2.0, "The quick brown fox"),
        (2.0, 4.25, "jumps over the lazy dog."),
    ]
    assert transcript.info.title is not None and transcript.info.title.startswith("Talk")
    assert transcript.duration == 4.25
    assert "/speech.mp4" not in http_server.requests  # the media itself was never downloaded
    assert (tmp_path / "job").is_dir() and any((tmp_path / "job").iterdir())


@pytest.mark.parametrize(("src", "body"), [("subs.json3", JSON3), ("subs.srv3", SRV3)])
def test_fetch_captions_prefers_youtube_formats_over_vtt(http_server, settings, tmp_path, src, body) -> None:
    source = page(
        http_server, ("en", "subs.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nthe vtt track\n"), ("en", src, body)
    )
    transcript = fetch_captions(source, settings=settings, workdir=tmp_path, language="en")
    assert transcript is not None
    assert transcript.segments[0].text == "The quick brown fox"
    assert "/subs.vtt" not in http_server.requests


def test_fetch_captions_matches_regional_variant_and_returns_none_without_a_match(
    http_server, settings, tmp_path
) -> None:
    source = page(http_server, ("en-US", "us.vtt", VTT_TEXT), ("de", "de.vtt", VTT_TEXT.replace("fox", "Fuchs")))
    us = fetch_captions(source, settings=settings, workdir=tmp_path, language="en")
    assert us is not None and us.language == "en-US"
    de = fetch_captions(source, settings=settings, workdir=tmp_path, language="de")
    assert de is not None and de.segments[0].text == "The quick brown Fuchs"
    assert fetch_captions(source, settings=settings, workdir=tmp_path, language="fr") is None


def test_auto_captions_only_when_enabled(http_server, settings, tmp_path) -> None:
    rolling = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n \nhello<00:00:01.000><c> world</c>\n\n"
        "00:00:02.000 --> 00:00:04.000\nhello world\nhow are you\n"
    )
    (http_server.root / "auto.vtt").write_text(rolling)
    url = http_server.url("speech.m4a")
    source = Source(kind="url", url=url, original=url)
    info = {
        "id": "speech",
        "title": "speech",
        "webpage_url": url,
        "duration": 4.0,
        "automatic_captions": {"en-orig": [{"ext": "vtt", "url": http_server.url("auto.vtt")}]},
    }
    assert fetch_captions(source, settings=settings, workdir=tmp_path, language="en", info=info) is None
    assert http_server.requests == []
    enabled = settings.model_copy(update={"auto_captions": True})
    transcript = fetch_captions(source, settings=enabled, workdir=tmp_path, language="en", info=info)
    assert transcript is not None and transcript.origin == "auto_captions"
    assert transcript.text == "hello world how are you"


def test_caption_download_from_a_refused_host_raises(http_server, settings, tmp_path) -> None:
    source = page(http_server, ("en", f"http://localhost:{http_server.port}/subs.vtt", ""))
    (http_server.root / "subs.vtt").write_text(VTT_TEXT)
    allowed = f"http://127.0.0.1:{http_server.port}"

    def guard(url: str) -> None:
        if "://" + urlsplit(url).netloc != allowed.removeprefix("http"):
            raise UnsafeUrlError(f"refused {url}")

    with pytest.raises(UnsafeUrlError, match="localhost"):
        captions_for_mode(source, settings=settings, workdir=tmp_path, language="en", mode="auto", url_guard=guard)
    assert "/subs.vtt" not in http_server.requests


def test_captions_for_mode(http_server, settings, tmp_path) -> None:
    source = page(http_server, ("de", "de.vtt", VTT_TEXT))
    run: Callable[..., Any] = lambda mode: captions_for_mode(  # noqa: E731
        source, settings=settings, workdir=tmp_path, language="en", mode=mode
    )
    assert run("never") is None
    assert http_server.requests == []  # "never" does not even probe
    assert run("auto") is None
    with pytest.raises(CaptionsUnavailableError, match="no en captions") as err:
        run("only")
    assert err.value.code == "captions_unavailable" and "TUBESUM_CAPTIONS" in str(err.value)


def test_captions_for_mode_auto_falls_back_when_the_track_is_missing(http_server, settings, tmp_path) -> None:
    source = page(http_server, ("en", "missing.vtt", ""))
    assert captions_for_mode(source, settings=settings, workdir=tmp_path, language="en", mode="auto") is None
    with pytest.raises(CaptionsUnavailableError, match="could not be downloaded"):
        captions_for_mode(source, settings=settings, workdir=tmp_path, language="en", mode="only")


def test_fetch_captions_workdir_file_is_named_by_id_and_language(http_server, settings, tmp_path) -> None:
    source = page(http_server, ("en", "subs.vtt", VTT_TEXT))
    fetch_captions(source, settings=settings, workdir=tmp_path / "w", language="en")
    names = [p.name for p in Path(tmp_path / "w").iterdir()]
    assert len(names) == 1 and names[0].endswith(".en.vtt") and "Talk" not in names[0]


def test_captions_for_mode_auto_does_not_hide_errors_of_the_video_itself(http_server, settings, tmp_path) -> None:
    url = http_server.url("gone.html")
    with pytest.raises(VideoUnavailableError):
        captions_for_mode(
            Source(kind="url", url=url, original=url), settings=settings, workdir=tmp_path, language="en", mode="auto"
        )
