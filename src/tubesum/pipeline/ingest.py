"""Ingest: turn what the user typed into a validated :class:`~tubesum.records.Source`.

Three kinds of source, tried in this order by :func:`parse_source`:

* **http(s) URL** - a YouTube URL becomes ``Source(kind="youtube", url="https://www.youtube.com/watch?v=ID")``
  (or ``.../playlist?list=ID`` for a playlist-only URL). Any other http(s) URL is accepted only with
  ``TUBESUM_ALLOW_GENERIC_URLS=true`` and after the SSRF guard (:func:`tubesum.pipeline.ssrf.check_url`).
* **local file** - text with no URL scheme that names an existing regular file becomes
  ``Source(kind="file", path=<absolute path>)``. ``file://`` URLs are refused: pass the path itself.
* **bare video id** - 11 characters of ``[A-Za-z0-9_-]`` that do NOT name an existing file (a file of that
  name wins, so ``tubesum run abcdefghijk`` on a local file keeps working).

YouTube parsing is our own strict code, not yt-dlp's permissive regexes: the host must be exactly one of
:data:`YOUTUBE_HOSTS` (lower-cased, one trailing dot dropped), on the default port, with no user info,
and video ids must match ``^[A-Za-z0-9_-]{11}$``. ``youtube.com.evil.tld``, ``youtube.com@evil.tld``,
look-alike IDN hosts and ``evil.tld/youtube.com/watch?v=...`` are therefore not YouTube.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from tubesum.errors import GenericUrlNotAllowedError, InvalidUrlError, NetworkError, SourceNotFoundError
from tubesum.pipeline.ssrf import _clip, _refuse_userinfo, _split_http_url, check_url
from tubesum.records import Source

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = ["MAX_SOURCE_LENGTH", "REMOTE_REFUSAL", "YOUTUBE_HOSTS", "YouTubeRef", "parse_source", "parse_youtube_url"]

MAX_SOURCE_LENGTH = 2048
"""Longest source text accepted, in characters (URL or path)."""

REMOTE_REFUSAL = "Only URLs can be submitted to the server."
"""The one answer a remote caller gets for any source that is not a URL (paths included, existing or not)."""

YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
        "youtu.be",
    }
)
"""Exact host names treated as YouTube."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_PLAYLIST_ID = re.compile(r"[A-Za-z0-9_-]{2,80}")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_PATH_ID = re.compile(r"/(shorts|live|embed|v|e)/([^/]*)/?")
_START = re.compile(r"(?:(\d{1,4})h)?(?:(\d{1,6})m)?(?:(\d{1,7}(?:\.\d{1,3})?)s?)?")
_URL_SAFE = "!$%&'()*+,/:;=?@[]~"  # kept as-is when normalising a generic URL; the rest is percent-encoded
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # control, format (bidi overrides, zero-width), surrogates
_YOUTUBE_HINT = "Use a watch, youtu.be, shorts, live, embed or playlist link."


@dataclass(frozen=True, slots=True)
class YouTubeRef:
    """A parsed YouTube URL: a video, a playlist, or a video in a playlist. ``start`` is ``t=`` in seconds."""

    video_id: str | None = None
    playlist_id: str | None = None
    start: float | None = None

    @property
    def url(self) -> str:
        """Return the canonical URL: ``watch?v=ID`` for a video, ``playlist?list=ID`` for a playlist."""
        if self.video_id:
            return f"https://www.youtube.com/watch?v={self.video_id}"
        return f"https://www.youtube.com/playlist?list={self.playlist_id}"


def parse_youtube_url(url: str) -> YouTubeRef | None:
    """Return the video/playlist a YouTube URL (or bare 11-character video id) names, or None if not YouTube.

    Pure: no network, no filesystem. Accepts watch (any parameter order, ``t``/``start``/``list``/``si``/...),
    youtu.be, shorts, live, embed (also ``embed/videoseries?list=``), v, attribution_link and playlist URLs on
    :data:`YOUTUBE_HOSTS`, with or without ``https://``.

    Returns None for text that is not a YouTube URL. Raises :class:`UnsafeUrlError` for any http(s) URL
    with user info (``user@host``, whatever the host), and :class:`InvalidUrlError` for a URL on a YouTube
    host that names no valid video or playlist (bad id, channel page, non-default port).
    """
    text = url.strip()
    if len(text) > MAX_SOURCE_LENGTH or _bad_char(text) is not None or any(c.isspace() for c in text):
        return None
    if _VIDEO_ID.fullmatch(text):
        return YouTubeRef(video_id=text)
    return _parse_youtube(_with_scheme(text), nested=False)


def parse_source(text: str, settings: Settings, *, remote: bool = False, resolve: bool = True) -> Source:
    """Validate and normalise what the user typed (URL, path or video id) into a :class:`Source`.

    **Parameters:**

    * **text** - the user's input; surrounding whitespace is ignored.
    * **settings** - reads ``allow_generic_urls``, ``allow_private_addresses`` and ``max_playlist_items``.
    * **remote** *(optional)* - the text comes from a remote caller (API, queued job): it is classified without
      touching the disk, and anything that is not an http(s) URL or a YouTube id gets one and the same
      :class:`InvalidUrlError`, whatever exists at that path on the server (no filesystem oracle).
    * **resolve** *(optional)* - ``False``: a generic URL whose host does not resolve *now* is accepted (every
      other SSRF check still applies); the job resolves it again and the downloader checks every request.

    Raises :class:`InvalidUrlError` (empty, too long, control characters, unsupported scheme, ``file://``,
    malformed or non-video YouTube URL, playlist while playlists are disabled), :class:`UnsafeUrlError` (user
    info, non-public address), :class:`GenericUrlNotAllowedError`, :class:`SourceNotFoundError` (missing file,
    directory) and, for generic URLs whose host does not resolve, :class:`~tubesum.errors.NetworkError`.
    """
    original = _checked_text(text)
    match = _SCHEME.match(original)
    scheme = match.group(1).lower() if match else None
    if scheme in _DEFAULT_PORTS:
        return _from_http_url(original, settings, resolve=resolve)
    if remote:
        ref = None if scheme is not None else parse_youtube_url(original)
        if ref is None:
            raise InvalidUrlError(REMOTE_REFUSAL, hint="Submit an http(s) or YouTube URL, or upload the file.")
        return _youtube_source(ref, original, settings)
    if scheme == "file":
        raise InvalidUrlError("file:// URLs are not accepted.", hint="Pass the file's path itself instead.")
    path = _local_file(original)
    if path is not None:  # also covers an odd local name such as "take:1.mp3"
        return Source(kind="file", original=original, path=path)
    if scheme is not None:
        raise InvalidUrlError(
            f"Unsupported URL scheme '{_clip(scheme, 20)}'.", hint="Use an http(s) URL or a local file path."
        )
    ref = parse_youtube_url(original)  # a bare video id, or a YouTube URL typed without https://
    if ref is not None:
        return _youtube_source(ref, original, settings)
    raise SourceNotFoundError(
        f"No such file: '{_clip(original)}'.",
        hint="Pass a YouTube URL, an http(s) URL (starting with https://) or the path of a media file.",
    )


# -- YouTube -----------------------------------------------------------------------------------------------
def _parse_youtube(text: str, *, nested: bool) -> YouTubeRef | None:
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    _refuse_userinfo(parts.netloc)
    host = (parts.hostname or "").removesuffix(".")
    if host not in YOUTUBE_HOSTS:
        return None
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        raise InvalidUrlError(f"YouTube URLs do not name a port: '{_clip(text)}'.", hint=_YOUTUBE_HINT)

    query = parse_qs(parts.query)
    fragment = parse_qs(parts.fragment)
    start = _parse_start(_first(query, "t") or _first(query, "start") or _first(fragment, "t"))
    playlist = _first(query, "list")
    playlist = playlist if playlist and _PLAYLIST_ID.fullmatch(playlist) else None
    path = parts.path

    if host == "youtu.be":
        return _video(path[1:].removesuffix("/"), playlist, start, text)
    if path in ("/watch", "/watch/"):
        return _video(_first(query, "v"), playlist, start, text)
    if path in ("/playlist", "/playlist/"):
        if playlist is None:
            raise InvalidUrlError(f"No valid playlist id in URL: '{_clip(text)}'.", hint=_YOUTUBE_HINT)
        return YouTubeRef(playlist_id=playlist)
    if path == "/attribution_link" and not nested:
        target = _first(query, "u") or ""
        if target.startswith("/") and not target.startswith("//"):
            return _parse_youtube("https://www.youtube.com" + target, nested=True)
    match = _PATH_ID.fullmatch(path)
    if match is not None:
        kind, candidate = match.groups()
        if kind == "embed" and candidate == "videoseries" and playlist is not None:
            return YouTubeRef(playlist_id=playlist)
        return _video(candidate, playlist, start, text)
    raise InvalidUrlError(f"Not a YouTube video or playlist URL: '{_clip(text)}'.", hint=_YOUTUBE_HINT)


def _video(candidate: str | None, playlist: str | None, start: float | None, text: str) -> YouTubeRef:
    if candidate is None or not _VIDEO_ID.fullmatch(candidate):
        raise InvalidUrlError(f"No valid YouTube video id in URL: '{_clip(text)}'.", hint=_YOUTUBE_HINT)
    return YouTubeRef(video_id=candidate, playlist_id=playlist, start=start)


def _parse_start(value: str | None) -> float | None:
    """Parse ``t=`` (``90``, ``90s``, ``1m30s``, ``1h2m3s``) into seconds; None if absent, zero or invalid."""
    if not value:
        return None
    match = _START.fullmatch(value.strip().lower())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    return total or None


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _with_scheme(text: str) -> str:
    """Prepend ``https:`` to ``//host/...`` and ``https://`` to ``www.youtube.com/...`` typed without one."""
    if text.startswith("//"):
        return "https:" + text
    head = re.split(r"[/?#]", text, maxsplit=1)[0].lower().removesuffix(".")
    return "https://" + text if head in YOUTUBE_HOSTS else text


def _youtube_source(ref: YouTubeRef, original: str, settings: Settings) -> Source:
    if ref.video_id is None and settings.max_playlist_items == 0:
        raise InvalidUrlError(
            "Playlists are disabled.",
            hint="Set TUBESUM_MAX_PLAYLIST_ITEMS to a positive number, or pass a single video URL.",
        )
    return Source(
        kind="youtube",
        original=original,
        url=ref.url,
        video_id=ref.video_id,
        playlist_id=ref.playlist_id,
        start=ref.start,
    )


# -- generic URLs and files --------------------------------------------------------------------------------
def _from_http_url(original: str, settings: Settings, *, resolve: bool = True) -> Source:
    ref = parse_youtube_url(original)
    if ref is not None:
        return _youtube_source(ref, original, settings)
    if "\\" in original or any(c.isspace() for c in original):
        raise InvalidUrlError("URLs cannot contain backslashes or spaces.", hint="Percent-encode them (%5C, %20).")
    url = _normalise_url(original)  # malformed URLs are invalid whatever the setting
    if not settings.allow_generic_urls:
        raise GenericUrlNotAllowedError(
            "Only YouTube URLs are accepted.",
            hint="Set TUBESUM_ALLOW_GENERIC_URLS=true to accept other http(s) media URLs.",
        )
    try:
        check_url(url, allow_private=settings.allow_private_addresses)
    except NetworkError:
        if resolve:
            raise
        # The host does not resolve now: the job resolves it again (and the downloader checks every address),
        # so a name that resolves later is still guarded, and a typo fails the job rather than the submit.
    return Source(kind="url", original=original, url=url)


def _normalise_url(url: str) -> str:
    """Lower-case scheme and host, IDN to punycode, drop a default port and the fragment, percent-encode."""
    scheme, host, port = _split_http_url(url)
    parts = urlsplit(url)
    netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = quote(parts.path, safe=_URL_SAFE) or "/"
    return urlunsplit((scheme, netloc, path, quote(parts.query, safe=_URL_SAFE), ""))


def _local_file(text: str) -> Path | None:
    """Return the resolved path when ``text`` names an existing file; None when nothing exists there."""
    try:
        path = Path(text).expanduser()
        if not path.exists():
            return None
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):  # name too long, unknown ~user, ...
        return None
    if resolved.is_dir():
        raise SourceNotFoundError(
            f"'{_clip(text)}' is a directory, not a media file.", hint="Pass the path of one media file."
        )
    if not resolved.is_file():
        raise SourceNotFoundError(f"'{_clip(text)}' is not a regular file.")
    return resolved


def _checked_text(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise InvalidUrlError("No source given.", hint="Pass a YouTube URL, an http(s) URL or a file path.")
    if len(stripped) > MAX_SOURCE_LENGTH:
        raise InvalidUrlError(f"Source is too long ({len(stripped)} characters, limit {MAX_SOURCE_LENGTH}).")
    bad = _bad_char(stripped)
    if bad is not None:
        raise InvalidUrlError(f"Source contains a control character (U+{ord(bad):04X}).")
    return stripped


def _bad_char(text: str) -> str | None:
    return next((c for c in text if unicodedata.category(c) in _BAD_CATEGORIES), None)
