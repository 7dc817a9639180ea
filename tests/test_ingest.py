"""Ingest: YouTube URL shapes, hostile look-alikes, local files and generic URLs behind the SSRF guard.

Offline: YouTube parsing is pure, and the only addresses resolved are literals, ``localhost`` and the
loopback ``http_server`` fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tubesum.config import Settings
from tubesum.errors import (
    GenericUrlNotAllowedError,
    InvalidUrlError,
    SourceError,
    SourceNotFoundError,
    TubesumError,
    UnsafeUrlError,
)
from tubesum.pipeline.ingest import YouTubeRef, parse_source, parse_youtube_url

ID = "dQw4w9WgXcQ"
PL = "PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf"
WATCH = f"https://www.youtube.com/watch?v={ID}"

VALID = [
    # (input, video_id, playlist_id, start)
    (WATCH, ID, None, None),
    (f"https://youtube.com/watch?v={ID}", ID, None, None),
    (f"http://www.youtube.com/watch?v={ID}", ID, None, None),
    (f"https://m.youtube.com/watch?v={ID}", ID, None, None),
    (f"https://music.youtube.com/watch?v={ID}&list=RDAMVM{ID}", ID, f"RDAMVM{ID}", None),
    (f"https://www.youtube.com/watch?feature=share&v={ID}", ID, None, None),
    (f"{WATCH}&t=90", ID, None, 90.0),
    (f"{WATCH}&t=90s", ID, None, 90.0),
    (f"{WATCH}&t=1m30s", ID, None, 90.0),
    (f"{WATCH}&t=1h2m3s", ID, None, 3723.0),
    (f"{WATCH}&t=0", ID, None, None),
    (f"{WATCH}&t=soon", ID, None, None),
    (f"{WATCH}#t=15", ID, None, 15.0),
    (f"https://www.youtube.com/watch?si=abc&index=3&list={PL}&v={ID}&t=5", ID, PL, 5.0),
    (f"{WATCH}&list=bad!list", ID, None, None),
    (f"https://youtu.be/{ID}", ID, None, None),
    (f"https://youtu.be/{ID}?t=42&si=xyz", ID, None, 42.0),
    (f"https://youtu.be/{ID}?list={PL}", ID, PL, None),
    (f"https://www.youtube.com/shorts/{ID}", ID, None, None),
    (f"https://youtube.com/shorts/{ID}?feature=share", ID, None, None),
    (f"https://www.youtube.com/live/{ID}?si=x", ID, None, None),
    (f"https://www.youtube.com/embed/{ID}?start=30", ID, None, 30.0),
    (f"https://www.youtube-nocookie.com/embed/{ID}", ID, None, None),
    (f"https://www.youtube.com/v/{ID}", ID, None, None),
    (f"https://www.youtube.com/attribution_link?a=x&u=%2Fwatch%3Fv%3D{ID}%26feature%3Dshare", ID, None, None),
    (f"HTTPS://WWW.YOUTUBE.COM/watch?v={ID}", ID, None, None),
    (f"https://www.youtube.com./watch?v={ID}", ID, None, None),
    (f"https://www.youtube.com:443/watch?v={ID}", ID, None, None),
    (f"http://youtube.com:80/watch?v={ID}", ID, None, None),
    (f"www.youtube.com/watch?v={ID}", ID, None, None),
    (f"youtu.be/{ID}", ID, None, None),
    (f"//www.youtube.com/watch?v={ID}", ID, None, None),
    (f"  {WATCH}\n", ID, None, None),
    (ID, ID, None, None),
    ("_-abcdEFG12", "_-abcdEFG12", None, None),
    (f"https://www.youtube.com/playlist?list={PL}", None, PL, None),
    (
        "https://music.youtube.com/playlist?list=OLAK5uy_kR3bVd7n1DbXNzRyt3qIsMBpH1VTfqXAc",
        None,
        "OLAK5uy_kR3bVd7n1DbXNzRyt3qIsMBpH1VTfqXAc",
        None,
    ),
    (f"https://www.youtube.com/embed/videoseries?list={PL}", None, PL, None),
]

# Not YouTube at all: parse_youtube_url returns None, and parse_source treats them as generic URLs.
LOOKALIKES = [
    f"https://youtube.com.evil.tld/watch?v={ID}",
    f"https://evil.tld/youtube.com/watch?v={ID}",
    f"https://evil.tld/?next=https://www.youtube.com/watch?v={ID}",
    f"https://youtube-nocookie.com.evil.tld/embed/{ID}",
    f"https://notyoutube.com/watch?v={ID}",
    f"https://www.youtube.co/watch?v={ID}",
    f"https://y\u043eutube.com/watch?v={ID}",  # Cyrillic о
    f"https://xn--yutube-wqf.com/watch?v={ID}",  # the same look-alike in punycode
    f"https://www.youtube.com\\.evil.tld/watch?v={ID}",
]

HOSTILE = [
    # (input, error class, code)
    *[(url, GenericUrlNotAllowedError, "generic_url_disabled") for url in LOOKALIKES[:-1]],
    (LOOKALIKES[-1], InvalidUrlError, "invalid_url"),  # backslash: browsers read it as a slash
    (f"https://youtube.com@evil.tld/watch?v={ID}", UnsafeUrlError, "unsafe_url"),
    (f"https://user:pass@youtube.com/watch?v={ID}", UnsafeUrlError, "unsafe_url"),
    (f"https://www.youtube.com\\@evil.tld/watch?v={ID}", UnsafeUrlError, "unsafe_url"),
    (f"https://www.youtube.com:8080/watch?v={ID}", InvalidUrlError, "invalid_url"),
    (f"https://www.youtube.com:99999/watch?v={ID}", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/watch?v=short", InvalidUrlError, "invalid_url"),
    (f"https://www.youtube.com/watch?v={ID}x", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXc%21", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXc%00", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/watch", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/@handle", InvalidUrlError, "invalid_url"),
    (f"https://youtu.be/{ID}/extra", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/playlist?list=", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/attribution_link?u=https://evil.tld/x", InvalidUrlError, "invalid_url"),
    (f"https://www.youtube.com/attribution_link?u=//evil.tld/watch?v={ID}", InvalidUrlError, "invalid_url"),
    ("javascript:alert(1)", InvalidUrlError, "invalid_url"),
    ("data:text/html,<script>alert(1)</script>", InvalidUrlError, "invalid_url"),
    ("file:///etc/passwd", InvalidUrlError, "invalid_url"),
    ("ftp://example.com/talk.mp3", InvalidUrlError, "invalid_url"),
    ("http://", InvalidUrlError, "invalid_url"),
    ("https://[::1/x", InvalidUrlError, "invalid_url"),
    ("", InvalidUrlError, "invalid_url"),
    (" \t\n", InvalidUrlError, "invalid_url"),
    ("https://www.youtube.com/watch?v=" + "a" * 3000, InvalidUrlError, "invalid_url"),
    (f"https://www.you\ntube.com/watch?v={ID}", InvalidUrlError, "invalid_url"),
    (f"https://www.youtube.com/watch?v=\u202e{ID}", InvalidUrlError, "invalid_url"),
    (f"https://www.youtube.com/watch?v={ID} rm -rf", InvalidUrlError, "invalid_url"),
]


@pytest.fixture
def generic(settings: Settings) -> Settings:
    """Generic URLs on, private addresses blocked: the production defaults plus allow_generic_urls."""
    return settings.model_copy(update={"allow_generic_urls": True, "allow_private_addresses": False})


@pytest.mark.parametrize(("text", "video_id", "playlist_id", "start"), VALID)
def test_parse_youtube_url_accepts_common_shapes(
    text: str, video_id: str | None, playlist_id: str | None, start: float | None
) -> None:
    assert parse_youtube_url(text) == YouTubeRef(video_id=video_id, playlist_id=playlist_id, start=start)


@pytest.mark.parametrize(("text", "video_id", "playlist_id", "start"), VALID)
def test_parse_source_gives_canonical_youtube_source(
    settings: Settings, text: str, video_id: str | None, playlist_id: str | None, start: float | None
) -> None:
    source = parse_source(text, settings.model_copy(update={"max_playlist_items": 10}))
    assert source.kind == "youtube"
    assert (source.video_id, source.playlist_id, source.start) == (video_id, playlist_id, start)
    assert source.original == text.strip()
    if video_id:
        assert source.url == f"https://www.youtube.com/watch?v={video_id}"
    else:
        assert source.url == f"https://www.youtube.com/playlist?list={playlist_id}"


@pytest.mark.parametrize("text", [row[0] for row in VALID if row[1]])
def test_canonical_url_is_claimed_by_yt_dlp_youtube_extractor(text: str) -> None:
    from yt_dlp.extractor.youtube import YoutubeIE

    ref = parse_youtube_url(text)
    assert ref is not None
    assert YoutubeIE.suitable(ref.url)
    assert YoutubeIE.extract_id(ref.url) == ref.video_id


@pytest.mark.parametrize("text", LOOKALIKES)
def test_parse_youtube_url_is_none_for_lookalike_hosts(text: str) -> None:
    assert parse_youtube_url(text) is None


@pytest.mark.parametrize(("text", "error", "code"), HOSTILE)
def test_parse_source_refuses_hostile_input(settings: Settings, text: str, error: type[SourceError], code: str) -> None:
    with pytest.raises(error) as info:
        parse_source(text, settings)
    assert info.value.code == code
    assert "\n" not in info.value.message


def test_parse_source_refuses_userinfo_trick(settings: Settings) -> None:
    with pytest.raises(UnsafeUrlError, match="user name or password"):
        parse_source(f"https://www.youtube.com@evil.tld/watch?v={ID}", settings)


def test_parse_youtube_url_refuses_userinfo_on_any_host() -> None:
    with pytest.raises(UnsafeUrlError):
        parse_youtube_url(f"https://user:pass@www.youtube.com/watch?v={ID}")


def test_messages_never_echo_long_input(settings: Settings) -> None:
    for text in ["/no/such/" + "x" * 1500, "https://www.youtube.com/watch?v=" + "a" * 1500]:
        with pytest.raises(TubesumError) as info:
            parse_source(text, settings)
        assert len(str(info.value)) < 250


# -- playlists ---------------------------------------------------------------------------------------------
def test_parse_source_refuses_playlist_when_playlists_disabled(settings: Settings) -> None:
    assert settings.max_playlist_items == 0
    with pytest.raises(InvalidUrlError, match="Playlists are disabled") as info:
        parse_source(f"https://www.youtube.com/playlist?list={PL}", settings)
    assert "TUBESUM_MAX_PLAYLIST_ITEMS" in str(info.value)


def test_parse_source_keeps_video_in_playlist_when_playlists_disabled(settings: Settings) -> None:
    source = parse_source(f"{WATCH}&list={PL}", settings)
    assert (source.video_id, source.playlist_id, source.url) == (ID, PL, WATCH)


# -- local files -------------------------------------------------------------------------------------------
def test_parse_source_accepts_existing_file(settings: Settings, tmp_path: Path) -> None:
    media = tmp_path / "talk.mp3"
    media.write_bytes(b"ID3")
    source = parse_source(str(media), settings)
    assert (source.kind, source.path, source.url) == ("file", media.resolve(), None)


def test_parse_source_resolves_relative_file_against_cwd(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "talk.mp3").write_bytes(b"ID3")  # the autouse fixture chdirs into tmp_path
    source = parse_source("talk.mp3", settings)
    assert source.path == (tmp_path / "talk.mp3").resolve()
    assert source.path is not None and source.path.is_absolute()


def test_parse_source_prefers_existing_file_over_bare_video_id(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / ID).write_bytes(b"ID3")
    assert parse_source(ID, settings).kind == "file"


def test_parse_source_accepts_file_with_colon_in_name(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "take:1.mp3").write_bytes(b"ID3")
    assert parse_source("take:1.mp3", settings).kind == "file"


def test_parse_source_reports_missing_file(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="No such file") as info:
        parse_source(str(tmp_path / "missing.mp3"), settings)
    assert info.value.code == "file_not_found"


def test_parse_source_refuses_directory(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="is a directory"):
        parse_source(str(tmp_path), settings)


def test_parse_source_refuses_file_url_and_says_to_pass_path(settings: Settings, tmp_path: Path) -> None:
    media = tmp_path / "talk.mp3"
    media.write_bytes(b"ID3")
    with pytest.raises(InvalidUrlError) as info:
        parse_source(media.as_uri(), settings)
    assert "path" in str(info.value)


def test_parse_source_schemeless_domain_is_a_missing_file_with_a_hint(settings: Settings) -> None:
    with pytest.raises(SourceNotFoundError) as info:
        parse_source("example.com/talk.mp3", settings)
    assert "https://" in str(info.value)


# -- generic URLs ------------------------------------------------------------------------------------------
def test_parse_source_refuses_generic_url_when_disabled(settings: Settings) -> None:
    assert settings.allow_generic_urls is False
    with pytest.raises(GenericUrlNotAllowedError) as info:
        parse_source("https://example.com/talk.mp3", settings)
    assert "TUBESUM_ALLOW_GENERIC_URLS" in str(info.value)
    assert info.value.code == "generic_url_disabled"


def test_parse_source_refuses_loopback_url_by_default(generic: Settings, http_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsafeUrlError) as info:
        parse_source(http_server.url("talk.mp3"), generic)
    assert info.value.code == "unsafe_url"


def test_parse_source_allows_loopback_url_with_test_only_setting(settings: Settings, http_server) -> None:  # type: ignore[no-untyped-def]
    allowed = settings.model_copy(update={"allow_generic_urls": True})
    assert allowed.allow_private_addresses is True
    source = parse_source(http_server.url("talk.mp3"), allowed)
    assert (source.kind, source.url) == ("url", http_server.url("talk.mp3"))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.mp3",
        "http://2130706433/x.mp3",  # decimal
        "http://0177.0.0.1/x.mp3",  # octal
        "http://0x7f.0.0.1/x.mp3",  # hex
        "http://0x7f000001/x.mp3",
        "http://127.1/x.mp3",
        "http://[::1]/x.mp3",
        "http://[::ffff:127.0.0.1]/x.mp3",
        "http://[::ffff:7f00:1]/x.mp3",
        "http://0.0.0.0/x.mp3",
        "http://10.0.0.1/x.mp3",
        "http://172.16.5.4:8080/x.mp3",
        "http://192.168.1.1/x.mp3",
        "http://100.64.0.1/x.mp3",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/x.mp3",
        "http://localhost/x.mp3",
        "http://LOCALHOST./x.mp3",
    ],
)
def test_parse_source_refuses_private_addresses_in_any_notation(generic: Settings, url: str) -> None:
    with pytest.raises(UnsafeUrlError) as info:
        parse_source(url, generic)
    assert info.value.code == "unsafe_url"


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("HTTPS://LocalHost.:443/Talk.mp3?x=1#frag", "https://localhost/Talk.mp3?x=1"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
        ("https://b\u00fccher.example/h\u00f6r.mp3", "https://xn--bcher-kva.example/h%C3%B6r.mp3"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
    ],
)
def test_parse_source_normalises_generic_urls(settings: Settings, text: str, url: str) -> None:
    allowed = settings.model_copy(update={"allow_generic_urls": True})  # private allowed: no DNS lookup
    assert parse_source(text, allowed).url == url
