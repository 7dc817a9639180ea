"""The service end to end: loopback URLs through real yt-dlp, captions first, limits, clean-up on failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from tubesum.config import Settings
from tubesum.errors import (
    CaptionsUnavailableError,
    DurationLimitError,
    GenericUrlNotAllowedError,
    SizeLimitError,
    VideoUnavailableError,
)
from tubesum.options import RunOptions
from tubesum.service import transcribe

pytestmark = pytest.mark.usefixtures("loopback_dns_only")

VTT = """WEBVTT

00:00:00.500 --> 00:00:02.000
Captions were written by a human.

00:00:02.000 --> 00:00:04.250
They arrive in seconds.
"""


@pytest.fixture
def web(settings: Settings) -> Settings:
    """Settings that accept generic URLs (the loopback server is allowed by allow_private_addresses)."""
    return settings.model_copy(update={"allow_generic_urls": True})


def video_page(server: LoopbackServer, media: Path, *, track: str | None) -> str:
    """Serve an HTML5 page with the media and, optionally, an English subtitle track; return its URL."""
    shutil.copy(media, server.root / media.name)
    tracks = ""
    if track is not None:
        (server.root / "subs.en.vtt").write_text(track)
        tracks = '<track kind="subtitles" srclang="en" src="subs.en.vtt">'
    (server.root / "talk.html").write_text(
        f'<html><head><title>A talk</title></head><body><video src="{media.name}">{tracks}</video></body></html>'
    )
    return server.url("talk.html")


def assert_clean(settings: Settings) -> None:
    assert settings.work_dir is not None
    assert not settings.work_dir.exists() or list(settings.work_dir.iterdir()) == []


def test_generic_url_is_downloaded_by_ytdlp_and_transcribed(
    web: Settings, http_server: LoopbackServer, make_media: Any
) -> None:
    media = make_media("speech.m4a")
    shutil.copy(media, http_server.root / "speech.m4a")
    progress: list[str] = []
    outcome = transcribe(
        http_server.url("speech.m4a"),
        settings=web,
        options=RunOptions(formats=("json",)),
        progress=lambda stage, *_: progress.append(stage),
    )
    t = outcome.transcript
    assert t.source.kind == "url" and t.origin == "whisper" and t.model == "tiny.en"
    assert word_overlap(SPEECH_WORDS, t.text) >= 0.7, t.text
    assert {"download", "decode", "load_model", "transcribe", "write"} <= set(progress)
    doc = json.loads(outcome.files["json"].read_text())
    assert doc["origin"] == "whisper" and doc["source"]["url"] == http_server.url("speech.m4a")
    assert_clean(web)


def test_captions_first_skips_whisper_and_keeps_timestamps(
    web: Settings, http_server: LoopbackServer, make_media: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faster_whisper

    def no_whisper(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Whisper must not run when human captions exist")

    monkeypatch.setattr(faster_whisper.WhisperModel, "transcribe", no_whisper)
    url = video_page(http_server, make_media("speech.mp4"), track=VTT)
    outcome = transcribe(url, settings=web, options=RunOptions(formats=("srt",)))
    t = outcome.transcript
    assert t.origin == "captions" and t.model is None and t.language == "en"
    assert [(s.start, s.end) for s in t.segments] == [(0.5, 2.0), (2.0, 4.25)]
    assert "Captions were written by a human." in outcome.files["srt"].read_text()
    assert "/talk.html" in http_server.requests  # the page was read ...
    assert not any("speech.mp4" in path for path in http_server.requests), "... but the media never downloaded"
    assert_clean(web)


def test_captions_never_runs_whisper_even_when_captions_exist(
    web: Settings, http_server: LoopbackServer, make_media: Any
) -> None:
    url = video_page(http_server, make_media("speech.mp4"), track=VTT)
    outcome = transcribe(url, settings=web, options=RunOptions(captions="never", formats=("txt",)))
    assert outcome.transcript.origin == "whisper"
    assert word_overlap(SPEECH_WORDS, outcome.transcript.text) >= 0.6


def test_captions_only_without_captions_fails_and_leaves_nothing(
    web: Settings, http_server: LoopbackServer, make_media: Any
) -> None:
    url = video_page(http_server, make_media("speech.mp4"), track=None)
    with pytest.raises(CaptionsUnavailableError) as excinfo:
        transcribe(url, settings=web, options=RunOptions(captions="only"))
    assert excinfo.value.code == "captions_unavailable"
    assert not web.output_dir.exists() or list(web.output_dir.iterdir()) == []
    assert_clean(web)


def test_generic_urls_are_refused_unless_enabled(settings: Settings, http_server: LoopbackServer) -> None:
    with pytest.raises(GenericUrlNotAllowedError, match="TUBESUM_ALLOW_GENERIC_URLS"):
        transcribe(http_server.url("speech.m4a"), settings=settings)
    assert http_server.requests == []


def test_missing_remote_media_fails_cleanly(web: Settings, http_server: LoopbackServer) -> None:
    with pytest.raises(VideoUnavailableError):
        transcribe(http_server.url("gone.m4a"), settings=web)
    assert_clean(web)
    assert list(web.output_dir.iterdir()) == []


def test_file_limits_are_checked_before_decoding(settings: Settings, speech_wav: Path) -> None:
    with pytest.raises(DurationLimitError, match="TUBESUM_MAX_DURATION"):
        transcribe(str(speech_wav), settings=settings.model_copy(update={"max_duration": 2}))
    big = speech_wav.stat().st_size > 1024 * 1024
    limited = settings.model_copy(update={"max_filesize_mb": 1})
    if big:
        with pytest.raises(SizeLimitError):
            transcribe(str(speech_wav), settings=limited)
    else:
        padded = settings.output_dir.parent / "padded.wav"
        padded.write_bytes(speech_wav.read_bytes() + b"\0" * (2 * 1024 * 1024))
        with pytest.raises(SizeLimitError, match="TUBESUM_MAX_FILESIZE_MB"):
            transcribe(str(padded), settings=limited)
    assert_clean(settings)


def test_options_override_settings_and_are_validated(settings: Settings, speech_wav: Path) -> None:
    from pydantic import ValidationError

    from tubesum.errors import ConfigError

    with pytest.raises(ValidationError, match="formats"):
        RunOptions(formats=("docx",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_line_count"):  # valid alone, refused against the settings' limits
        transcribe(str(speech_wav), settings=settings, options=RunOptions.model_construct(max_line_count=0))
