"""Captions first: use the video's own subtitles when they exist, so Whisper does not have to run.

yt-dlp reports human-made tracks in ``info["subtitles"]`` and YouTube's speech recognition in
``info["automatic_captions"]``. :func:`select_track` picks one (pure), :func:`fetch_captions` downloads it
through the same (SSRF-guarded) yt-dlp and :func:`parse_captions` turns it into segments::

    info = probe(source, settings=settings)
    transcript = captions_for_mode(source, settings=settings, workdir=tmp, language=None, info=info)
    if transcript is None:
        ...  # run Whisper

Parsers are our own (json3, srv3, vtt, srt, ttml are small formats) so production code needs no subtitle
library. YouTube's automatic vtt repeats the previous line in every cue; :func:`parse_captions` drops
those repeats so no text is doubled.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from tubesum.config import CaptionsMode, Settings
from tubesum.errors import CaptionsUnavailableError, FetchError
from tubesum.pipeline.fetch import media_info, probe
from tubesum.pipeline.ytdlp import UrlGuard, open_ydl, source_guard
from tubesum.progress import ProgressFn, no_progress
from tubesum.records import Segment, Source, Transcript

__all__ = [
    "FORMAT_PREFERENCE",
    "Track",
    "captions_for_mode",
    "fetch_captions",
    "parse_captions",
    "select_track",
]

logger = logging.getLogger(__name__)

FORMAT_PREFERENCE: tuple[str, ...] = ("json3", "srv3", "vtt", "srt", "ttml")
"""Caption formats we parse, best first: json3/srv3 carry exact YouTube timings without rolling repeats."""

MAX_CAPTIONS_BYTES = 20 * 1024 * 1024
_SKIP_KEYS = frozenset({"live_chat", "rechat", "danmaku"})


@dataclass(frozen=True, slots=True)
class Track:
    """One caption track in one format, as yt-dlp lists it (``key`` is yt-dlp's language key)."""

    key: str
    ext: str
    auto: bool
    url: str | None = None
    data: str | None = None
    name: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def language(self) -> str:
        """Return the language code: ``en-US`` stays, ``en-orig`` and YouTube's ``en-<track id>`` become ``en``."""
        parts = self.key.removesuffix("-orig").split("-")
        if len(parts) > 1 and re.fullmatch(r"[A-Za-z]{2}|[0-9]{3}|[A-Za-z]{4}", parts[1]):
            return f"{parts[0].lower()}-{parts[1]}"
        return parts[0].lower()


def select_track(info: Mapping[str, Any], *, language: str | None, allow_auto: bool) -> Track | None:
    """Return the best caption track of ``info`` for ``language``, or None.

    ``language`` None means the video's own language (``info["language"]``, else the language of YouTube's
    ``-orig`` speech recognition track) or, when nothing says, English. Human-made
    subtitles win over automatic captions; regional variants match (``en`` takes ``en-US``, ``en-GB``).
    Automatic captions are used only with ``allow_auto`` and only in the spoken language: YouTube's machine
    translations (``de`` next to ``en-orig``) are never picked. Formats follow :data:`FORMAT_PREFERENCE`.
    """
    spoken = next((k.removesuffix("-orig") for k in info.get("automatic_captions") or () if k.endswith("-orig")), None)
    wanted = (language or _str(info.get("language")) or spoken or "en").lower().replace("_", "-")
    manual = _tracks(info.get("subtitles"), auto=False)
    ranked = sorted((rank, i, key) for i, key in enumerate(manual) if (rank := _manual_rank(key, wanted)) is not None)
    if ranked:
        return _best_format(manual[ranked[0][2]])
    if not allow_auto:
        return None
    auto = _tracks(info.get("automatic_captions"), auto=True)
    base = wanted.split("-")[0]
    has_orig = any(key.endswith("-orig") for key in auto)
    for key in auto:
        if key.lower() == f"{base}-orig":
            return _best_format(auto[key])
    if not has_orig:
        for key in auto:
            if key.lower() == wanted or key.lower().split("-")[0] == base:
                return _best_format(auto[key])
    return None


def fetch_captions(
    source: Source,
    *,
    settings: Settings,
    workdir: Path,
    language: str | None,
    progress: ProgressFn = no_progress,
    info: Mapping[str, Any] | None = None,
    url_guard: UrlGuard | None = None,
) -> Transcript | None:
    """Return the video's captions as a Transcript, or None when it has no usable track.

    **Parameters:**

    * **info** *(optional)* - the dict :func:`~tubesum.pipeline.fetch.probe` returned (probes when missing).
    * **language** - wanted language code, or None for the video's own language (else English).

    Only the subtitle file is downloaded (into ``workdir``), never the media, and no model runs. Raises a
    :class:`~tubesum.errors.FetchError` when the chosen track cannot be downloaded.
    """
    guard = source_guard(source, settings=settings, url_guard=url_guard)
    if info is None:
        info = probe(source, settings=settings, url_guard=url_guard)
    track = select_track(info, language=language, allow_auto=settings.auto_captions)
    if track is None:
        logger.info("no %s captions for %s", language or "matching", source.label)
        return None
    progress("captions", 0.0, None)
    text = track.data if track.data is not None else _download(track, info, settings, workdir, guard, progress)
    try:
        segments = parse_captions(text, track.ext)
    except ValueError as exc:
        logger.warning("cannot parse %s captions of %s: %s", track.ext, source.label, exc)
        return None
    if not segments:
        logger.info("the %s captions of %s are empty", track.key, source.label)
        return None
    duration = info.get("duration")
    logger.info(
        "using %s %s captions (%s) for %s", track.key, track.ext, "auto" if track.auto else "human", source.label
    )
    return Transcript(
        source=source,
        segments=segments,
        language=track.language,
        origin="auto_captions" if track.auto else "captions",
        info=media_info(info),
        model=None,
        duration=float(duration) if isinstance(duration, int | float) else segments[-1].end,
    )


def captions_for_mode(
    source: Source,
    *,
    settings: Settings,
    workdir: Path,
    language: str | None,
    mode: CaptionsMode | None = None,
    progress: ProgressFn = no_progress,
    info: Mapping[str, Any] | None = None,
    url_guard: UrlGuard | None = None,
) -> Transcript | None:
    """Apply the captions mode (default ``settings.captions``): never → None, auto → captions or None, only → raise.

    In ``auto`` mode a failed caption download is logged and returns None, so Whisper can take over; in
    ``only`` mode it raises :class:`CaptionsUnavailableError` (its cause kept).
    """
    mode = mode or settings.captions
    if mode == "never":
        return None
    if info is None:  # probe errors are the video's errors, whatever the mode: let them through
        info = probe(source, settings=settings, url_guard=url_guard)
    try:
        transcript = fetch_captions(
            source,
            settings=settings,
            workdir=workdir,
            language=language,
            progress=progress,
            info=info,
            url_guard=url_guard,
        )
    except FetchError as exc:
        if mode == "auto":
            logger.warning("captions of %s failed, falling back to speech recognition: %s", source.label, exc)
            return None
        raise CaptionsUnavailableError(f"Captions could not be downloaded: {exc.message}", hint=exc.hint) from exc
    if transcript is None and mode == "only":
        raise CaptionsUnavailableError(
            f"{source.label} has no {language or 'original-language'} captions.",
            hint="Set TUBESUM_CAPTIONS=auto to transcribe the audio instead"
            + ("." if settings.auto_captions else ", or TUBESUM_AUTO_CAPTIONS=true to accept automatic ones."),
        )
    return transcript


# -- parsing ------------------------------------------------------------------------------------------------
def parse_captions(data: str | bytes, fmt: str) -> tuple[Segment, ...]:
    """Return the cues of a caption file as segments (markup stripped, entities decoded, empty cues dropped).

    ``fmt`` is one of json3, srv3, vtt, srt, ttml. Lines a cue repeats from the cue before (YouTube's rolling
    automatic captions) are dropped. Raises ``ValueError`` for an unknown format or unreadable data.
    """
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data.lstrip("\ufeff")
    parsers = {
        "vtt": _parse_cues,
        "webvtt": _parse_cues,
        "srt": _parse_cues,
        "json3": _parse_json3,
        "srv3": _parse_srv3,
        "ttml": _parse_ttml,
        "xml": _parse_ttml,
        "dfxp": _parse_ttml,
    }
    parser = parsers.get(fmt.lower())
    if parser is None:
        raise ValueError(f"unsupported caption format {fmt!r}")
    # Times are finite and ordered, whatever the file says (1e999, nan, negative durations): renderers rely on it.
    cues = [(start, max(start, end), lines) for start, end, lines in parser(text) if _finite(start, end)]
    return _drop_repeats(cues)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) and 0 <= v < _MAX_SECONDS for v in values)


_Cue = tuple[float, float, list[str]]
_MAX_SECONDS = 10 * 24 * 3600.0  # no caption file is ten days long
_TIMING = re.compile(r"^\s*(\S+)\s*-->\s*(\S+)")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def _parse_cues(text: str) -> list[_Cue]:
    """Parse WebVTT and SubRip line by line: a ``start --> end`` line opens a cue, an empty line closes it.

    Whitespace-only lines stay inside the cue (YouTube's automatic vtt has them); the line right before a
    timing line is its cue id, never text. Cues with unreadable timestamps are skipped.
    """
    cues: list[_Cue] = []
    current: list[str] | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        match = _TIMING.match(line) if "-->" in line else None
        if match:
            if current:
                current.pop()
            try:
                start, end = _clock(match.group(1)), _clock(match.group(2))
            except ValueError:
                current = None
                continue
            current = []
            cues.append((start, end, current))
        elif not line:
            current = None
        elif current is not None:
            current.append(line)
    return [(start, end, [_clean(html.unescape(_TAG.sub("", t))) for t in lines]) for start, end, lines in cues]


def _parse_json3(text: str) -> list[_Cue]:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not json3: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise ValueError("not json3: not an object")
    events = document.get("events") or []
    if not isinstance(events, list):
        raise ValueError("not json3: events is not a list")
    cues: list[_Cue] = []
    for event in events:
        segs = event.get("segs") if isinstance(event, dict) else None
        if not isinstance(segs, list) or not segs:
            continue
        start, duration = _ms(event.get("tStartMs")), _ms(event.get("dDurationMs") or 0)
        if start is None or duration is None:  # an event without a usable time is skipped, like a bad vtt cue
            continue
        joined = "".join(str(s.get("utf8", "")) for s in segs if isinstance(s, dict))
        cues.append((start, start + duration, [_clean(line) for line in joined.split("\n")]))
    return cues


def _ms(value: Any) -> float | None:
    """Return milliseconds as finite seconds, or None for anything else (strings of digits included)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value) / 1000
    except (ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) else None


def _parse_srv3(text: str) -> list[_Cue]:
    cues: list[_Cue] = []
    for p in _xml(text).iter():
        if _local(p.tag) == "p" and p.get("t") is not None:
            start = float(p.get("t") or 0) / 1000
            end = start + float(p.get("d") or 0) / 1000
            cues.append((start, end, [_clean(line) for line in "".join(p.itertext()).split("\n")]))
    return cues


def _parse_ttml(text: str) -> list[_Cue]:
    cues: list[_Cue] = []
    for p in _xml(text).iter():
        if _local(p.tag) != "p" or p.get("begin") is None:
            continue
        start = _ttml_time(p.get("begin") or "")
        end = _ttml_time(p.get("end")) if p.get("end") else start + _ttml_time(p.get("dur") or "0s")
        for br in [e for e in p.iter() if _local(e.tag) == "br"]:
            br.tail = "\n" + (br.tail or "")
        cues.append((start, end, [_clean(line) for line in "".join(p.itertext()).split("\n")]))
    return cues


def _drop_repeats(cues: list[_Cue]) -> tuple[Segment, ...]:
    """Turn cues into segments, dropping lines the previous cue already showed (rolling captions)."""
    segments: list[Segment] = []
    previous: set[str] = set()
    for start, end, lines in sorted(cues, key=lambda cue: cue[0]):
        shown = [line for line in lines if line]
        new = [line for line in shown if line not in previous]
        previous = set(shown)
        if new:
            segments.append(Segment(start=start, end=max(end, start), text=" ".join(new)))
        elif shown and segments and segments[-1].text == " ".join(shown):
            last = segments[-1]  # the same text stays on screen: extend it
            segments[-1] = Segment(start=last.start, end=max(last.end, end), text=last.text)
    return tuple(segments)


def _clean(line: str) -> str:
    """Collapse whitespace (no-break spaces too); markup is the parser's business."""
    return " ".join(line.replace("\u00a0", " ").split())


def _clock(value: str) -> float:
    match = _CLOCK.match(value.strip())
    if match is None:
        raise ValueError(f"bad timestamp {value!r}")
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int((fraction or "0").ljust(3, "0")) / 1000


def _ttml_time(value: str | None) -> float:
    value = (value or "").strip()
    offset = re.fullmatch(r"([\d.]+)(h|ms|m|s|t)", value)
    if offset:
        number, unit = float(offset.group(1)), offset.group(2)
        return number * {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "t": 1e-7}[unit]
    frames = re.fullmatch(r"(\d+):(\d{2}):(\d{2}):(\d+)", value)
    if frames:  # hh:mm:ss:frames, 30 frames a second unless the file says otherwise
        h, m, s, f = (int(g) for g in frames.groups())
        return h * 3600 + m * 60 + s + f / 30
    return _clock(value)


def _xml(text: str) -> ET.Element:
    """Parse caption XML with defusedxml: a DTD anywhere in the document is refused, so nothing expands."""
    try:
        root: ET.Element = defused_fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValueError(f"caption XML with a DTD or entities is refused ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise ValueError(f"bad caption XML: {exc}") from exc
    return root


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# -- selection and download helpers -------------------------------------------------------------------------
def _tracks(value: Any, *, auto: bool) -> dict[str, list[Track]]:
    tracks: dict[str, list[Track]] = {}
    if not isinstance(value, Mapping):
        return tracks
    for key, formats in value.items():
        if not isinstance(key, str) or key in _SKIP_KEYS or not isinstance(formats, list):
            continue
        usable = [
            Track(
                key=key,
                ext=str(f.get("ext") or "").lower(),
                auto=auto,
                url=_str(f.get("url")),
                data=f.get("data") if isinstance(f.get("data"), str) else None,
                name=_str(f.get("name")),
                raw=f,
            )
            for f in formats
            if isinstance(f, Mapping) and _plain_file(f)
        ]
        if usable:
            tracks[key] = usable
    return tracks


def _plain_file(fmt: Mapping[str, Any]) -> bool:
    """Keep tracks in a format we parse that come as one plain file (not HLS/DASH segments)."""
    if str(fmt.get("ext") or "").lower() not in FORMAT_PREFERENCE:
        return False
    if isinstance(fmt.get("data"), str):
        return True
    url = str(fmt.get("url") or "")
    protocol = str(fmt.get("protocol") or "")
    return (
        url.lower().startswith(("http://", "https://"))
        and protocol in ("", "http", "https")
        and ".m3u8" not in url.lower()
    )


def _manual_rank(key: str, wanted: str) -> int | None:
    key = key.lower()
    if key == wanted:
        return 0
    key_parts, wanted_parts = key.split("-"), wanted.split("-")
    if key_parts[0] != wanted_parts[0]:
        return None
    return 1 if len(key_parts) == 1 or len(wanted_parts) == 1 else 2


def _best_format(tracks: list[Track]) -> Track:
    return min(tracks, key=lambda t: FORMAT_PREFERENCE.index(t.ext))


def _download(
    track: Track,
    info: Mapping[str, Any],
    settings: Settings,
    workdir: Path,
    guard: UrlGuard | None,
    progress: ProgressFn,
) -> str:
    """Download one track with yt-dlp's own downloader (headers, cookies, guard) and return its text."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", str(info.get("id") or "captions"))[:64]
    path = workdir / f"{stem}.{re.sub(r'[^A-Za-z0-9_-]', '_', track.key)[:32]}.{track.ext}"

    def hook(status: dict[str, Any]) -> None:
        done = status.get("downloaded_bytes") or 0
        if done > MAX_CAPTIONS_BYTES:
            raise CaptionsUnavailableError(f"Captions file is larger than {MAX_CAPTIONS_BYTES // 1_048_576} MB.")
        progress("captions", float(done), status.get("total_bytes"))

    subtitle = {**track.raw, "ext": track.ext}
    if info.get("http_headers"):
        subtitle.setdefault("http_headers", info["http_headers"])
    extra = {"max_filesize": MAX_CAPTIONS_BYTES, "progress_hooks": [hook], "overwrites": True}
    with open_ydl(settings, url_guard=guard, extra=extra) as ydl:
        ydl.dl(str(path), subtitle, subtitle=True)
    if not path.is_file():
        raise FetchError(f"The {track.key} captions could not be downloaded.")
    return path.read_text(encoding="utf-8-sig", errors="replace")


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
