"""fetch.py and ytdlp.py: real yt-dlp against loopback servers; the SSRF guard on requests, redirects, connects."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError

from tubesum.config import Settings
from tubesum.errors import (
    AgeRestrictedError,
    ConfigError,
    DurationLimitError,
    FetchError,
    GeoBlockedError,
    LoginRequiredError,
    NetworkError,
    PrivateVideoError,
    RateLimitedError,
    SizeLimitError,
    SourceError,
    TubesumError,
    UnsafeUrlError,
    UnsupportedMediaError,
    VideoUnavailableError,
)
from tubesum.pipeline.fetch import (
    check_limits,
    expand_playlist,
    fetch_audio,
    map_ytdlp_error,
    media_info,
    playlist_sources,
    probe,
)
from tubesum.pipeline.ytdlp import clean_message
from tubesum.records import Source

pytestmark = pytest.mark.usefixtures("loopback_dns_only")


def url_source(url: str) -> Source:
    return Source(kind="url", url=url, original=url)


def only_origin(allowed: str) -> Callable[[str], None]:
    """A guard that allows exactly one scheme://host:port and refuses everything else."""

    def guard(url: str) -> None:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != allowed:
            raise UnsafeUrlError(f"test guard refused {url}")

    return guard


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "job"


@pytest.fixture
def served_m4a(http_server, make_media) -> Path:  # type: ignore[no-untyped-def]
    target = http_server.root / "speech.m4a"
    shutil.copy(make_media("speech.m4a"), target)
    return target


# -- downloads ----------------------------------------------------------------------------------------------
def test_fetch_audio_downloads_stream_as_is_named_by_id(http_server, served_m4a, settings, workdir) -> None:
    calls: list[tuple[str, float, float | None]] = []
    audio = fetch_audio(
        url_source(http_server.url("speech.m4a")),
        settings=settings,
        workdir=workdir,
        progress=lambda stage, done, total=None: calls.append((stage, done, total)),
    )
    assert audio.path == workdir / "speech.m4a"  # id + original extension: no re-encode
    assert audio.path.read_bytes() == served_m4a.read_bytes()
    assert audio.info.extractor == "Generic"
    assert audio.info.webpage_url == http_server.url("speech.m4a")
    size = served_m4a.stat().st_size
    assert calls and calls[-1] == ("download", size, size)


def test_fetch_audio_from_html5_page_names_file_by_id_not_title(http_server, make_media, settings, workdir):
    shutil.copy(make_media("speech.mp4"), http_server.root / "speech.mp4")
    (http_server.root / "page.html").write_text(
        '<html><head><title>My Talk: Part 1</title></head><body><video controls src="speech.mp4"></video></body></html>'
    )
    audio = fetch_audio(url_source(http_server.url("page.html")), settings=settings, workdir=workdir)
    assert audio.info.title is not None and audio.info.title.startswith("My Talk")
    assert "Talk" not in audio.path.name
    assert audio.path.suffix == ".mp4"
    assert audio.path.read_bytes() == (http_server.root / "speech.mp4").read_bytes()


def test_fetch_audio_with_probed_info_does_not_extract_again(http_server, make_media, settings, workdir):
    shutil.copy(make_media("speech.mp4"), http_server.root / "speech.mp4")
    (http_server.root / "page.html").write_text('<html><body><video src="speech.mp4"></video></body></html>')
    source = url_source(http_server.url("page.html"))
    info = probe(source, settings=settings)
    assert http_server.requests.count("/page.html") == 1
    audio = fetch_audio(source, settings=settings, workdir=workdir, info=info)
    assert audio.path.is_file()
    assert http_server.requests.count("/page.html") == 1  # the page was not fetched a second time


def test_file_sources_are_not_fetched(settings, workdir) -> None:
    with pytest.raises(ValueError, match="local files"):
        fetch_audio(Source(kind="file", original="a.wav", path=workdir / "a.wav"), settings=settings, workdir=workdir)


def test_missing_cookies_file_is_a_config_error_naming_the_path(http_server, settings, workdir) -> None:
    missing = workdir / "nope" / "cookies.txt"
    with pytest.raises(ConfigError, match=r"cookies\.txt") as info:
        probe(url_source(http_server.url("x.m4a")), settings=settings.model_copy(update={"cookies_file": missing}))
    assert str(missing) in str(info.value)
    assert http_server.requests == []


def test_cookies_file_is_used_but_never_rewritten(http_server, served_m4a, settings, workdir) -> None:
    cookies = workdir.parent / "cookies.txt"
    original = "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tsecret-value\n"
    cookies.write_text(original)
    cookies.chmod(0o444)
    probe(url_source(http_server.url("speech.m4a")), settings=settings.model_copy(update={"cookies_file": cookies}))
    assert cookies.read_text() == original


def test_malformed_cookies_file_is_a_config_error_and_not_logged(http_server, settings, workdir, caplog) -> None:
    cookies = workdir.parent / "cookies.txt"
    cookies.write_text("not-a-cookie-line secret-value\n")
    caplog.set_level("DEBUG", logger="tubesum.fetch")
    with pytest.raises(ConfigError, match="Netscape") as err:
        probe(url_source(http_server.url("x.m4a")), settings=settings.model_copy(update={"cookies_file": cookies}))
    assert "TUBESUM_COOKIES_FILE" in str(err.value)
    assert "secret-value" not in caplog.text and "secret-value" not in str(err.value)
    assert http_server.requests == []


# -- limits -------------------------------------------------------------------------------------------------
def test_duration_over_limit_is_refused_before_the_download(http_server, served_m4a, settings, workdir):
    source = url_source(http_server.url("speech.m4a"))
    info = probe(source, settings=settings)
    requests_after_probe = len(http_server.requests)
    with pytest.raises(DurationLimitError) as err:
        fetch_audio(
            source,
            settings=settings.model_copy(update={"max_duration": 3600}),
            workdir=workdir,
            info={**info, "duration": 7322},
        )
    assert "2:02:02" in str(err.value) and "1:00:00" in str(err.value) and "TUBESUM_MAX_DURATION" in str(err.value)
    assert err.value.code == "duration_limit"
    assert len(http_server.requests) == requests_after_probe  # nothing was downloaded
    assert list(workdir.glob("*")) == []


def test_filesize_metadata_over_limit_is_refused(settings) -> None:
    limited = settings.model_copy(update={"max_filesize_mb": 10})
    check_limits({"filesize_approx": 5 * 1024 * 1024}, settings=limited)  # under the limit: no error
    with pytest.raises(SizeLimitError, match=r"20 MB; the limit is 10 MB \(TUBESUM_MAX_FILESIZE_MB\)"):
        check_limits({"filesize_approx": 20 * 1024 * 1024}, settings=limited)
    with pytest.raises(SizeLimitError):  # video + audio formats count together
        check_limits({"requested_formats": [{"filesize": 6 << 20}, {"filesize_approx": 6 << 20}]}, settings=limited)


def test_unknown_duration_and_size_pass_the_metadata_check(settings) -> None:
    check_limits({"title": "no numbers"}, settings=settings.model_copy(update={"max_duration": 1}))
    with pytest.raises(UnsupportedMediaError, match="Live"):
        check_limits({"is_live": True}, settings=settings)


def test_download_over_size_limit_with_content_length_is_refused(http_server, settings, workdir) -> None:
    (http_server.root / "big.m4a").write_bytes(b"\0" * (2 * 1024 * 1024 + 10))
    with pytest.raises(SizeLimitError, match="TUBESUM_MAX_FILESIZE_MB"):
        fetch_audio(
            url_source(http_server.url("big.m4a")),
            settings=settings.model_copy(update={"max_filesize_mb": 1}),
            workdir=workdir,
        )
    assert list(workdir.glob("*")) == []


@pytest.fixture
def endless_stream() -> Iterator[str]:
    """A server that streams 3 MB of 'audio' with no Content-Length (HTTP/1.0, ends by closing)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/mp4")
            self.end_headers()
            try:
                for _ in range(48):
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                pass  # the client hung up: that is the point

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/live.m4a"
    finally:
        server.shutdown()
        server.server_close()


def test_download_without_size_metadata_is_stopped_at_the_limit(endless_stream, settings, workdir) -> None:
    with pytest.raises(SizeLimitError, match="grew past"):
        fetch_audio(
            url_source(endless_stream), settings=settings.model_copy(update={"max_filesize_mb": 1}), workdir=workdir
        )
    assert list(workdir.glob("*")) == []  # the partial file is removed


# -- SSRF ---------------------------------------------------------------------------------------------------
def test_loopback_url_is_refused_before_any_request_by_default(http_server, served_m4a, settings, workdir):
    strict = settings.model_copy(update={"allow_private_addresses": False})
    with pytest.raises(UnsafeUrlError) as err:
        fetch_audio(url_source(http_server.url("speech.m4a")), settings=strict, workdir=workdir)
    assert err.value.code == "unsafe_url"
    assert http_server.requests == []


def test_redirect_to_a_refused_host_is_not_followed(http_server, served_m4a, settings, workdir) -> None:
    http_server.redirects["/go.m4a"] = f"http://localhost:{http_server.port}/speech.m4a"
    guard = only_origin(f"http://127.0.0.1:{http_server.port}")
    with pytest.raises(UnsafeUrlError, match="localhost"):
        fetch_audio(url_source(http_server.url("go.m4a")), settings=settings, workdir=workdir, url_guard=guard)
    assert http_server.requests == ["/go.m4a"]  # the redirect target was never requested
    assert list(workdir.glob("*")) == []


def test_redirect_to_an_allowed_host_is_followed(http_server, served_m4a, settings, workdir) -> None:
    http_server.redirects["/go.m4a"] = http_server.url("speech.m4a")
    seen: list[str] = []
    audio = fetch_audio(
        url_source(http_server.url("go.m4a")), settings=settings, workdir=workdir, url_guard=seen.append
    )
    assert audio.path.read_bytes() == served_m4a.read_bytes()
    # every request, the redirect target and every address connected to went through the guard
    assert http_server.url("go.m4a") in seen
    assert http_server.url("speech.m4a") in seen
    assert f"http://127.0.0.1:{http_server.port}/" in seen


def test_name_that_resolves_to_a_refused_address_is_stopped_at_connect(
    http_server, served_m4a, settings, workdir
) -> None:
    """DNS rebinding: the name passes the URL check, the address it resolves to is checked before connecting."""

    def names_only(url: str) -> None:
        if urlsplit(url).hostname != "localhost":
            raise UnsafeUrlError(f"address refused: {url}")

    source = url_source(f"http://localhost:{http_server.port}/speech.m4a")
    with pytest.raises(UnsafeUrlError, match="address refused"):
        fetch_audio(source, settings=settings, workdir=workdir, url_guard=names_only)
    assert http_server.requests == []


def test_generic_hls_is_refused_because_ffmpeg_would_bypass_the_guard(http_server, settings, workdir) -> None:
    (http_server.root / "a.ts").write_bytes(b"\0" * 188)
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\na.ts\n#EXT-X-ENDLIST\n"
    (http_server.root / "list.m3u8").write_text(playlist)
    with pytest.raises(UnsupportedMediaError, match="format is not available"):
        fetch_audio(url_source(http_server.url("list.m3u8")), settings=settings, workdir=workdir)
    assert "/a.ts" not in http_server.requests


# -- errors from real yt-dlp runs ---------------------------------------------------------------------------
def test_youtube_url_without_dns_fails_fast_with_network_error(settings) -> None:
    source = Source(
        kind="youtube",
        original="dQw4w9WgXcQ",
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        video_id="dQw4w9WgXcQ",
    )
    started = time.monotonic()
    with pytest.raises(NetworkError) as err:
        probe(source, settings=settings)
    assert time.monotonic() - started < 15
    assert err.value.transient and "Name or service not known" in err.value.message
    assert "ERROR:" not in err.value.message and "[youtube]" not in err.value.message


def test_html_page_without_media_is_unsupported_media(http_server, settings) -> None:
    (http_server.root / "plain.html").write_text("<html><head><title>Hi</title></head><body>text</body></html>")
    with pytest.raises(UnsupportedMediaError, match="Unsupported URL"):
        probe(url_source(http_server.url("plain.html")), settings=settings)


def test_missing_path_is_video_unavailable(http_server, settings) -> None:
    with pytest.raises(VideoUnavailableError, match="404"):
        probe(url_source(http_server.url("gone.m4a")), settings=settings)


def test_connection_refused_is_network_error(settings) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkError, match="refused"):
        probe(url_source(f"http://127.0.0.1:{port}/a.m4a"), settings=settings)


# -- error mapping (messages as yt-dlp prints them) ---------------------------------------------------------
YT = "ERROR: [youtube] dQw4w9WgXcQ: "
COOKIES = (
    " Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/"
    "yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies."
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (YT + "Private video. Sign in if you've been granted access to this video." + COOKIES, PrivateVideoError),
        (YT + "Video unavailable", VideoUnavailableError),
        (YT + "Video unavailable. This video has been removed by the uploader", VideoUnavailableError),
        (
            YT + "Video unavailable. This video is no longer available because the YouTube account associated "
            "with this video has been terminated.",
            VideoUnavailableError,
        ),
        ("ERROR: [youtube:tab] UCxxxx: This channel does not exist.", VideoUnavailableError),
        (YT + "The uploader has not made this video available in your country", GeoBlockedError),
        (
            YT + "Sign in to confirm your age. This video may be inappropriate for some users." + COOKIES,
            AgeRestrictedError,
        ),
        (YT + "Sign in to confirm you\u2019re not a bot." + COOKIES, LoginRequiredError),
        (YT + "Sign in to confirm you're not a bot." + COOKIES, LoginRequiredError),
        (
            YT + "Join this channel to get access to members-only content like this video, and other exclusive perks.",
            LoginRequiredError,
        ),
        (YT + "This video is only available for registered users." + COOKIES, LoginRequiredError),
        (
            YT + "This content isn't available, try again later. The current session has been rate-limited by "
            "YouTube for up to an hour.",
            RateLimitedError,
        ),
        (
            "ERROR: [youtube] dQw4w9WgXcQ: Unable to download API page: HTTP Error 429: Too Many Requests "
            "(caused by <HTTPError 429: Too Many Requests>)",
            RateLimitedError,
        ),
        (
            "ERROR: [generic] x: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: "
            "Not Found>)",
            VideoUnavailableError,
        ),
        (
            YT + "Unable to download API page: [Errno -3] Temporary failure in name resolution (caused by "
            "TransportError('[Errno -3] Temporary failure in name resolution'))",
            NetworkError,
        ),
        ("ERROR: [generic] a: Unable to download webpage: The read operation timed out", NetworkError),
        (
            "ERROR: [generic] a: Unable to download webpage: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
            "failed: self-signed certificate (_ssl.c:1006)",
            NetworkError,
        ),
        ("ERROR: Unsupported URL: https://example.com/page", UnsupportedMediaError),
        (
            YT + "Requested format is not available. Use --list-formats for a list of available formats",
            UnsupportedMediaError,
        ),
        (YT + "This live event will begin in 3 hours.", FetchError),
    ],
)
def test_map_ytdlp_error_message_table(message: str, expected: type[TubesumError]) -> None:
    error = map_ytdlp_error(DownloadError(message))
    assert type(error) is expected
    assert "ERROR:" not in error.message and "dQw4w9WgXcQ:" not in error.message
    assert "--cookies" not in error.message and "(caused by" not in error.message


def test_login_and_age_errors_hint_at_the_cookies_setting() -> None:
    for message in (YT + "Sign in to confirm your age." + COOKIES, YT + "Sign in to confirm you're not a bot."):
        assert "TUBESUM_COOKIES_FILE" in str(map_ytdlp_error(DownloadError(message)))


def test_map_ytdlp_error_uses_the_exception_chain() -> None:
    geo = GeoRestrictedError("This video is blocked", countries=["US"])
    assert isinstance(
        map_ytdlp_error(DownloadError("ERROR: This video is blocked", (None, geo, None))), GeoBlockedError
    )

    class Response:
        status, reason, headers, url = 503, "Service Unavailable", {}, "http://x"

        def close(self) -> None:
            pass

    wrapped = DownloadError(
        "ERROR: [generic] a: Unable to download webpage: boom",
        (None, ExtractorError("boom", cause=HTTPError(Response())), None),
    )
    assert isinstance(map_ytdlp_error(wrapped), NetworkError)
    assert isinstance(map_ytdlp_error(TransportError("weird")), NetworkError)
    assert type(map_ytdlp_error(DownloadError("ERROR: something odd"))) is FetchError


def test_clean_message_is_one_short_line() -> None:
    raw = "\x1b[0;31mERROR:\x1b[0m [youtube] abcdefghijk: Video unavailable\nmore " + "x" * 400
    cleaned = clean_message(raw)
    assert cleaned.startswith("Video unavailable more")
    assert "\n" not in cleaned and "\x1b" not in cleaned and len(cleaned) <= 200


# -- playlists ----------------------------------------------------------------------------------------------
def test_expand_playlist_of_a_generic_page_is_bounded(http_server, make_media, settings) -> None:
    for name in ("a.m4a", "b.m4a", "c.m4a"):
        shutil.copy(make_media("speech.m4a"), http_server.root / name)
    (http_server.root / "list.html").write_text(
        '<html><body><audio src="a.m4a"></audio><audio src="b.m4a"></audio><audio src="c.m4a"></audio></body></html>'
    )
    source = url_source(http_server.url("list.html"))
    sources = expand_playlist(source, settings=settings.model_copy(update={"max_playlist_items": 2}))
    assert [s.url for s in sources] == [http_server.url("a.m4a"), http_server.url("b.m4a")]
    assert {s.kind for s in sources} == {"url"}
    with pytest.raises(SourceError, match="holds 3 videos"):
        probe(source, settings=settings)


def test_expand_playlist_refused_when_playlists_are_disabled(http_server, settings) -> None:
    with pytest.raises(SourceError, match="TUBESUM_MAX_PLAYLIST_ITEMS"):
        expand_playlist(url_source(http_server.url("list.html")), settings=settings)
    assert http_server.requests == []


def test_playlist_sources_turns_flat_youtube_entries_into_watch_urls() -> None:
    info = {
        "_type": "playlist",
        "id": "PLabc",
        "extractor_key": "YoutubeTab",
        "entries": [
            {
                "_type": "url",
                "ie_key": "Youtube",
                "id": "aaaaaaaaaaa",
                "url": "https://www.youtube.com/watch?v=aaaaaaaaaaa",
            },
            {
                "_type": "url",
                "ie_key": "Youtube",
                "id": "bbbbbbbbbbb",
                "url": "https://www.youtube.com/shorts/bbbbbbbbbbb",
            },
            {"_type": "url", "ie_key": "Youtube", "id": "aaaaaaaaaaa", "url": "https://youtu.be/aaaaaaaaaaa"},
            {
                "_type": "url",
                "ie_key": "YoutubeTab",
                "id": "PLnested",
                "url": "https://www.youtube.com/playlist?list=PLnested",
            },
            {"_type": "url", "ie_key": "Youtube", "id": "bad id!", "url": "x"},
            {
                "_type": "url",
                "ie_key": "Youtube",
                "id": "ccccccccccc",
                "url": "https://www.youtube.com/watch?v=ccccccccccc",
            },
            {
                "_type": "url",
                "ie_key": "Youtube",
                "id": "ddddddddddd",
                "url": "https://www.youtube.com/watch?v=ddddddddddd",
            },
        ],
    }
    sources = playlist_sources(info, limit=3)
    assert [s.url for s in sources] == [
        "https://www.youtube.com/watch?v=aaaaaaaaaaa",
        "https://www.youtube.com/watch?v=bbbbbbbbbbb",
        "https://www.youtube.com/watch?v=ccccccccccc",
    ]
    assert all(s.kind == "youtube" and s.playlist_id == "PLabc" for s in sources)
    assert [s.video_id for s in sources] == ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"]


def test_media_info_reads_the_info_dict() -> None:
    info = media_info(
        {
            "title": "T",
            "duration": 61,
            "channel": "C",
            "webpage_url": "https://w",
            "upload_date": "20240102",
            "extractor_key": "Youtube",
            "filesize_approx": 1234.0,
        }
    )
    assert (info.title, info.duration, info.uploader, info.extractor, info.filesize) == (
        "T",
        61.0,
        "C",
        "Youtube",
        1234,
    )


def test_settings_fixture_allows_loopback(settings: Settings) -> None:
    assert settings.allow_private_addresses  # the tests above rely on it; production refuses it
