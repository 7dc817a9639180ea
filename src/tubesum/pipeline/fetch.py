"""Fetch media with yt-dlp: probe the metadata once, refuse what is over the limits, download the audio as is.

The service calls :func:`probe` once, hands the info to :func:`~tubesum.pipeline.captions.fetch_captions`, and
only when captions do not do calls :func:`fetch_audio` with the same info, so yt-dlp extracts once::

    info = probe(source, settings=settings)
    audio = fetch_audio(source, settings=settings, workdir=tmp, info=info, progress=progress)

The audio is yt-dlp's ``bestaudio`` stream in its own container (webm, m4a, ...), never re-encoded: the
decode stage reads any container with PyAV. Generic URLs (``Source.kind == "url"``) go through the SSRF guard
on every request, redirect and connection (see :mod:`tubesum.pipeline.ytdlp`), and only plain HTTP(S) formats
are downloaded for them, because HLS/DASH downloads may be handed to ffmpeg, which the guard cannot see.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from yt_dlp.utils import ReExtractInfo

from tubesum.config import Settings
from tubesum.errors import (
    DurationLimitError,
    FetchError,
    SizeLimitError,
    SourceError,
    TubesumError,
    UnsupportedMediaError,
)
from tubesum.pipeline.growing_file import GrowingFile, Growth
from tubesum.pipeline.ytdlp import UrlGuard, map_ytdlp_error, open_ydl, source_guard, source_url
from tubesum.progress import ProgressFn, Stage, no_progress
from tubesum.records import Audio, MediaInfo, Source

__all__ = [
    "AudioStream",
    "check_limits",
    "expand_playlist",
    "fetch_audio",
    "map_ytdlp_error",
    "media_info",
    "playlist_sources",
    "probe",
    "stream_audio",
    "streamable",
]

logger = logging.getLogger(__name__)

AUDIO_FORMAT = "bestaudio/best"
GUARDED_AUDIO_FORMAT = "bestaudio[protocol~='^https?$']/best[protocol~='^https?$']"
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_STOP_SECONDS = 5.0  # how long leaving stream_audio early waits for the download thread to stop
_REPORT_SECONDS = 0.5  # a blocked reader reports the download's progress at most this often
_UNREUSABLE_KEYS = frozenset(
    {"requested_downloads", "requested_formats", "requested_subtitles", "filepath", "_filename", "filename"}
)


def probe(source: Source, *, settings: Settings, url_guard: UrlGuard | None = None) -> dict[str, Any]:
    """Return yt-dlp's metadata for ``source`` (one video), without downloading anything.

    Generic URLs are checked with ``url_guard`` (default: the SSRF guard from settings) before and during
    extraction. A page with several videos is refused: expand it with :func:`expand_playlist` instead.
    Raises tubesum errors only (yt-dlp's are mapped by :func:`map_ytdlp_error`).
    """
    guard = source_guard(source, settings=settings, url_guard=url_guard)
    url = source_url(source)
    if guard is not None:
        guard(url)
    with open_ydl(settings, url_guard=guard, extra={"format": _format_for(source)}) as ydl:
        info = ydl.extract_info(url, download=False)
    if not isinstance(info, dict):
        raise FetchError(f"yt-dlp returned no metadata for {source.label}.")
    if info.get("_type") in ("playlist", "multi_video"):
        entries = [e for e in info.get("entries") or () if isinstance(e, dict)]
        if len(entries) != 1:
            raise SourceError(
                f"{source.label} holds {len(entries)} videos, not one.",
                hint="Pass the URL of a single video, or expand playlists (TUBESUM_MAX_PLAYLIST_ITEMS).",
                entries=len(entries),
            )
        info = entries[0]
    return info


def check_limits(info: Mapping[str, Any], *, settings: Settings) -> None:
    """Raise when the metadata says the media is over ``max_duration`` or ``max_filesize_mb``.

    Unknown values pass: the size is capped again while downloading, the duration when decoding.
    """
    if info.get("is_live"):
        raise UnsupportedMediaError("Live streams cannot be transcribed.", hint="Try again after the stream has ended.")
    duration = info.get("duration")
    if settings.max_duration and isinstance(duration, int | float) and duration > settings.max_duration:
        raise DurationLimitError(
            f"Media is {_clock(duration)} long; the limit is {_clock(settings.max_duration)} (TUBESUM_MAX_DURATION).",
            hint="Raise TUBESUM_MAX_DURATION (seconds, 0 = no limit) or pick shorter media.",
            duration=duration,
            limit=settings.max_duration,
        )
    size = _expected_size(info)
    limit = settings.max_filesize_bytes
    if limit and size is not None and size > limit:
        raise _size_error(size, settings)


def media_info(info: Mapping[str, Any]) -> MediaInfo:
    """Return the :class:`MediaInfo` record for a yt-dlp info dict."""
    duration = info.get("duration")
    size = _expected_size(info)
    return MediaInfo(
        title=_str(info.get("title")),
        duration=float(duration) if isinstance(duration, int | float) else None,
        uploader=_str(info.get("uploader") or info.get("channel")),
        webpage_url=_str(info.get("webpage_url") or info.get("original_url")),
        upload_date=_str(info.get("upload_date")),
        extractor=_str(info.get("extractor_key") or info.get("extractor")),
        filesize=int(size) if size is not None else None,
    )


def fetch_audio(
    source: Source,
    *,
    settings: Settings,
    workdir: Path,
    progress: ProgressFn = no_progress,
    info: Mapping[str, Any] | None = None,
    url_guard: UrlGuard | None = None,
) -> Audio:
    """Download the best audio stream of a YouTube or generic ``source`` into ``workdir``, named by video id.

    **Parameters:**

    * **info** *(optional)* - the dict :func:`probe` returned; without it this function probes first.
    * **progress** *(optional)* - called as ``progress("download", done_bytes, total_bytes)``.
    * **url_guard** *(optional)* - replaces the SSRF guard for generic URLs (tests).

    Refuses before downloading when the metadata is over the limits, and stops a download that grows past
    ``max_filesize_mb``. Raises ``ValueError`` for ``kind == "file"`` (nothing to fetch).
    """
    if info is None:
        info = probe(source, settings=settings, url_guard=url_guard)
    return _download(
        source,
        settings=settings,
        workdir=workdir,
        hook=_DownloadHook(progress, settings=settings),
        info=info,
        url_guard=url_guard,
    )


def streamable(info: Mapping[str, Any]) -> bool:
    """Whether the format :func:`probe` chose can be decoded while it downloads (:func:`stream_audio`).

    Only one plain HTTP(S) file qualifies: yt-dlp writes it front to back into one ``.part`` file. Formats
    that need a merge (separate audio and video) or a fragment downloader are downloaded first.
    """
    if info.get("requested_formats") or info.get("_type") not in (None, "video"):
        return False
    return info.get("protocol") in ("http", "https")


@contextmanager
def stream_audio(
    source: Source,
    *,
    settings: Settings,
    workdir: Path,
    info: Mapping[str, Any],
    url_guard: UrlGuard | None = None,
) -> Iterator[AudioStream]:
    """Download ``source`` in a background thread and yield an :class:`AudioStream` to decode it meanwhile.

    The download is :func:`fetch_audio`'s (same limits, SSRF guard, errors); :meth:`AudioStream.reader` gives
    file objects that block until the bytes they need arrive, and raise the download's error when it fails.
    Leaving the block early (an error, a cancellation) stops the download and removes its partial file; an
    error of the decoding side (a tubesum error) is replaced by the download's own when the download failed.
    """
    check_limits(info, settings=settings)  # refuse before starting anything
    stream = AudioStream(source, settings=settings, workdir=workdir, info=info, url_guard=url_guard)
    stream.start()
    try:
        yield stream
    except BaseException as exc:
        failed = stream.growth.error  # the download's own failure, read before stopping it
        stream.stop()
        if isinstance(exc, TubesumError) and failed is not None and failed is not exc:
            raise failed from exc  # the decoder's view of a broken download (a cancellation stays one)
        raise
    stream.stop()


class AudioStream:
    """A download running in a background thread (see :func:`stream_audio`)."""

    def __init__(
        self,
        source: Source,
        *,
        settings: Settings,
        workdir: Path,
        info: Mapping[str, Any],
        url_guard: UrlGuard | None,
    ) -> None:
        self.source = source
        self.growth = Growth()
        self._stopping = threading.Event()
        self._hook = _DownloadHook(self._grew, settings=settings, stop=self._stopping)
        self._audio: Audio | None = None
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,  # the job's log context (job id, ...) goes along
            args=(self._download,),
            kwargs={"settings": settings, "workdir": workdir, "info": info, "url_guard": url_guard},
            name=f"download {source.label}",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def reader(self, *, progress: ProgressFn = no_progress) -> GrowingFile:
        """A new reader from the first byte; it reports ``progress("download", ...)`` while it waits."""

        last = 0.0

        def report() -> None:  # a cancellation point too: the progress callable may raise
            nonlocal last
            now = time.monotonic()
            if now - last < _REPORT_SECONDS:
                return
            last = now
            progress("download", float(self.growth.written), float(self.growth.total) if self.growth.total else None)

        return self.growth.reader(on_wait=report)

    def audio(self) -> Audio:
        """Wait for the download to end; return its :class:`Audio` or raise its error."""
        self._thread.join()
        if self.growth.error is not None:
            raise self.growth.error
        assert self._audio is not None
        return self._audio

    def stop(self) -> None:
        """Stop the download if it still runs (at its next block of data), wait for it, remove a partial file.

        The wait is bounded: a server that sends nothing more leaves the thread in a socket read until yt-dlp's
        own timeout; it then removes its partial file itself and ends (it is a daemon thread).
        """
        self._stopping.set()
        self._thread.join(_STOP_SECONDS)
        if self._thread.is_alive():
            logger.warning("download of %s still waits for its server; leaving it to time out", self.source.label)
        if self._audio is None:
            self._hook.remove_partial()

    def _grew(self, stage: Stage, done: float, total: float | None = None, /) -> None:
        if self._hook.partial is not None:
            self.growth.started(Path(self._hook.partial))
        self.growth.grew(int(done), int(total) if total else None)

    def _download(
        self, *, settings: Settings, workdir: Path, info: Mapping[str, Any], url_guard: UrlGuard | None
    ) -> None:
        try:
            audio = _download(
                self.source, settings=settings, workdir=workdir, hook=self._hook, info=info, url_guard=url_guard
            )
        except BaseException as exc:  # handed to the readers, raised in the decoding thread
            self._hook.remove_partial()
            self.growth.fail(exc if not self._stopping.is_set() else _Stopped("download stopped"))
            return
        self._audio = audio
        self.growth.finish(audio.path)


def _download(
    source: Source,
    *,
    settings: Settings,
    workdir: Path,
    hook: _DownloadHook,
    info: Mapping[str, Any],
    url_guard: UrlGuard | None,
) -> Audio:
    guard = source_guard(source, settings=settings, url_guard=url_guard)
    check_limits(info, settings=settings)
    workdir.mkdir(parents=True, exist_ok=True)
    params = {
        "format": _format_for(source),
        "paths": {"home": str(workdir), "temp": str(workdir)},
        "outtmpl": {"default": "%(id)s.%(ext)s"},
        "restrictfilenames": True,
        "max_filesize": settings.max_filesize_bytes,
        "progress_hooks": [hook],
    }
    try:
        with open_ydl(settings, url_guard=guard, extra=params) as ydl:
            try:
                # What yt-dlp's own --load-info-json does: process the extracted info again, now downloading.
                result = ydl.process_ie_result(_reusable(info), download=True)
            except ReExtractInfo:  # the stream URLs expired since the probe
                logger.info("stream URLs of %s expired; extracting again", source.label)
                fresh = ydl.extract_info(source_url(source), download=False)
                check_limits(fresh, settings=settings)
                result = ydl.process_ie_result(_reusable(fresh), download=True)
            messages = list(ydl.messages)
    except BaseException:  # a failed or stopped download leaves no partial file behind
        hook.remove_partial()
        raise
    path = _downloaded_file(result)
    if path is None:
        if any("larger than max-filesize" in line for line in messages):
            raise SizeLimitError(
                f"Media is larger than the {settings.max_filesize_mb} MB limit (TUBESUM_MAX_FILESIZE_MB).",
                hint="Raise TUBESUM_MAX_FILESIZE_MB (0 = no limit) or pick smaller media.",
                limit_mb=settings.max_filesize_mb,
            )
        raise FetchError(f"yt-dlp finished without writing a file for {source.label}.")
    logger.info("downloaded %s (%d bytes)", path.name, path.stat().st_size)
    return Audio(path=path, source=source, info=media_info(result))


def expand_playlist(source: Source, *, settings: Settings, url_guard: UrlGuard | None = None) -> list[Source]:
    """Return the videos of a playlist ``source``, at most ``settings.max_playlist_items`` of them.

    Uses yt-dlp's flat extraction (one request per page of the playlist, none per video). Raises
    :class:`SourceError` when playlists are disabled (``max_playlist_items == 0``).
    """
    limit = settings.max_playlist_items
    if limit <= 0:
        raise SourceError(
            "Playlists are disabled.", hint="Set TUBESUM_MAX_PLAYLIST_ITEMS to the most videos to accept."
        )
    guard = source_guard(source, settings=settings, url_guard=url_guard)
    url = _playlist_url(source)
    if guard is not None:
        guard(url)
    params = {
        "extract_flat": "in_playlist",
        "noplaylist": False,
        "playlistend": limit,
        "format": _format_for(source),
    }
    with open_ydl(settings, url_guard=guard, extra=params) as ydl:
        info = ydl.extract_info(url, download=False)
    return playlist_sources(info if isinstance(info, dict) else {}, limit=limit)


def playlist_sources(info: Mapping[str, Any], *, limit: int) -> list[Source]:
    """Return up to ``limit`` Sources for the entries of a (flat) playlist info dict, skipping duplicates.

    YouTube entries become ``kind="youtube"`` Sources with canonical watch URLs; entries of a generic page
    become ``kind="url"`` Sources of their media URL. Nested playlists and channels are skipped.
    """
    if info.get("_type") not in ("playlist", "multi_video"):
        entries: Sequence[Any] = [info]
    else:
        entries = list(info.get("entries") or ())
    youtube_list = info.get("id") if info.get("extractor_key") == "YoutubeTab" else None
    sources: list[Source] = []
    seen: set[str] = set()
    for entry in entries:
        if len(sources) >= limit:
            break
        source = _entry_source(entry, playlist_id=_str(youtube_list))
        if source is not None and source.url not in seen:
            seen.add(source.url or "")
            sources.append(source)
    return sources


# -- helpers ------------------------------------------------------------------------------------------------
class _DownloadHook:
    """yt-dlp progress hook: report bytes, and stop a download that grows past the size limit."""

    def __init__(self, progress: ProgressFn, *, settings: Settings, stop: threading.Event | None = None) -> None:
        self.progress = progress
        self.settings = settings
        self.stop = stop
        self.partial: str | None = None

    def __call__(self, status: dict[str, Any]) -> None:
        if self.stop is not None and self.stop.is_set():
            raise _Stopped("download stopped")
        done = status.get("downloaded_bytes") or 0
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        self.partial = status.get("tmpfilename") or self.partial
        limit = self.settings.max_filesize_bytes
        if limit and done > limit:
            raise _size_error(done, self.settings, during=True)
        self.progress("download", float(done), float(total) if total else None)

    def remove_partial(self) -> None:
        if self.partial:
            Path(self.partial).unlink(missing_ok=True)


class _Stopped(Exception):
    """Raised in yt-dlp's progress hook to end a download nobody reads any more."""


def _playlist_url(source: Source) -> str:
    if source.kind == "youtube" and source.playlist_id:
        return f"https://www.youtube.com/playlist?list={source.playlist_id}"
    return source_url(source)


def _format_for(source: Source) -> str:
    return GUARDED_AUDIO_FORMAT if source.kind == "url" else AUDIO_FORMAT


def _entry_source(entry: Any, *, playlist_id: str | None) -> Source | None:
    if not isinstance(entry, Mapping):
        return None
    ie_key = entry.get("ie_key") or entry.get("extractor_key")
    video_id = _str(entry.get("id"))
    url = _str(entry.get("url")) or _str(entry.get("webpage_url"))
    if ie_key == "Youtube":
        if not video_id or not _YOUTUBE_ID.fullmatch(video_id):
            return None
        watch = f"https://www.youtube.com/watch?v={video_id}"
        return Source(kind="youtube", original=url or watch, url=watch, video_id=video_id, playlist_id=playlist_id)
    if entry.get("_type") == "playlist" or ie_key in ("YoutubeTab", "YoutubePlaylist") or not url:
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    return Source(kind="url", original=url, url=url)


def _reusable(info: Mapping[str, Any]) -> dict[str, Any]:
    """Return a shallow copy of a processed info dict without the keys a previous run added."""
    return {k: v for k, v in info.items() if k not in _UNREUSABLE_KEYS and not k.startswith("__")}


def _downloaded_file(result: Any) -> Path | None:
    if not isinstance(result, Mapping):
        return None
    for download in result.get("requested_downloads") or ():
        filepath = download.get("filepath") if isinstance(download, Mapping) else None
        if filepath and Path(filepath).is_file():
            return Path(filepath)
    return None


def _expected_size(info: Mapping[str, Any]) -> float | None:
    parts = info.get("requested_formats") or [info]
    sizes = [p.get("filesize") or p.get("filesize_approx") for p in parts if isinstance(p, Mapping)]
    known = [s for s in sizes if isinstance(s, int | float) and s > 0]
    return float(sum(known)) if known else None


def _size_error(size: float, settings: Settings, *, during: bool = False) -> SizeLimitError:
    what = "Download grew past" if during else "Media is"
    limit = settings.max_filesize_mb
    return SizeLimitError(
        f"{what} {size / 1_048_576:.0f} MB; the limit is {limit} MB (TUBESUM_MAX_FILESIZE_MB).",
        hint="Raise TUBESUM_MAX_FILESIZE_MB (0 = no limit) or pick smaller media.",
        size_bytes=int(size),
        limit_mb=settings.max_filesize_mb,
    )


def _clock(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
