"""Typed records every pipeline stage passes on.

All records are frozen dataclasses with ``to_dict``/``from_dict`` so a job runner can checkpoint them as JSON.
Times are seconds from the start of the audio, as floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Audio",
    "Chapter",
    "KeyPoint",
    "MediaInfo",
    "Rendered",
    "Segment",
    "Source",
    "SourceKind",
    "SpeakerTurn",
    "Summary",
    "SummaryMethod",
    "Transcript",
    "TranscriptOrigin",
    "Word",
]

SourceKind = Literal["youtube", "url", "file"]
TranscriptOrigin = Literal["whisper", "captions", "auto_captions"]


@dataclass(frozen=True, slots=True)
class Source:
    """What the user asked for, validated and normalised by ``tubesum.pipeline.ingest``.

    ``url`` is the canonical URL to fetch (``https://www.youtube.com/watch?v=ID`` for YouTube), ``path`` the
    local file for ``kind == "file"``. ``start`` keeps a ``t=`` offset for links back into the video.
    """

    kind: SourceKind
    original: str
    url: str | None = None
    path: Path | None = None
    video_id: str | None = None
    playlist_id: str | None = None
    start: float | None = None

    @property
    def label(self) -> str:
        """Return a short human name: the video id, the file name, or the URL."""
        if self.video_id:
            return self.video_id
        if self.path is not None:
            return self.path.name
        return self.url or self.original

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path) if self.path is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        values = dict(data)
        if values.get("path") is not None:
            values["path"] = Path(values["path"])
        return cls(**_known(cls, values))


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """Metadata about the media, from yt-dlp or the file itself."""

    title: str | None = None
    duration: float | None = None
    uploader: str | None = None
    webpage_url: str | None = None
    upload_date: str | None = None
    extractor: str | None = None
    filesize: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MediaInfo:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class Audio:
    """An audio (or audio+video) file on local disk, ready to decode."""

    path: Path
    source: Source
    info: MediaInfo = field(default_factory=MediaInfo)


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    text: str
    probability: float | None = None
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Word:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class Segment:
    """One timed piece of the transcript. ``speaker`` is filled by diarization, when it runs."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "speaker": self.speaker,
            "words": [w.to_dict() for w in self.words],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        values = dict(data)
        values["words"] = tuple(Word.from_dict(w) for w in values.get("words") or ())
        return cls(**_known(cls, values))


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """One stretch of audio attributed to one speaker by diarization."""

    start: float
    end: float
    speaker: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeakerTurn:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class KeyPoint:
    """One point of a summary, linked to where the transcript says it (``start`` None when unknown)."""

    text: str
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyPoint:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class Chapter:
    title: str
    start: float
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chapter:
        return cls(**_known(cls, data))


SummaryMethod = Literal["extractive", "abstractive"]


@dataclass(frozen=True, slots=True)
class Summary:
    """A summary of a transcript. ``method`` says whether sentences were picked (extractive) or written by a model.

    ``backend`` is ``extractive``, ``transformers`` or ``openai``; ``model`` names the LLM when one wrote it.
    """

    abstract: str
    key_points: tuple[KeyPoint, ...]
    method: SummaryMethod
    backend: str
    model: str | None = None
    language: str | None = None
    chapters: tuple[Chapter, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "abstract": self.abstract,
            "key_points": [k.to_dict() for k in self.key_points],
            "chapters": [c.to_dict() for c in self.chapters],
            "method": self.method,
            "backend": self.backend,
            "model": self.model,
            "language": self.language,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        return cls(
            abstract=data["abstract"],
            key_points=tuple(KeyPoint.from_dict(k) for k in data.get("key_points") or ()),
            chapters=tuple(Chapter.from_dict(c) for c in data.get("chapters") or ()),
            method=data["method"],
            backend=data["backend"],
            model=data.get("model"),
            language=data.get("language"),
        )


@dataclass(frozen=True, slots=True)
class Transcript:
    """The whole transcript plus where it came from. Writers are pure functions of this record."""

    source: Source
    segments: tuple[Segment, ...]
    language: str | None
    origin: TranscriptOrigin
    info: MediaInfo = field(default_factory=MediaInfo)
    model: str | None = None
    language_probability: float | None = None
    duration: float | None = None
    tubesum_version: str = ""
    created_at: str = ""
    summary: Summary | None = None
    diarization: str | None = None  # the diarization model that named the speakers, when one ran

    @property
    def speakers(self) -> tuple[str, ...]:
        """Return the speaker labels in order of first appearance."""
        return tuple(dict.fromkeys(s.speaker for s in self.segments if s.speaker))

    @property
    def text(self) -> str:
        """Return the plain text: the segments' text joined by spaces."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def title(self) -> str:
        return self.info.title or self.source.label

    def with_segments(self, segments: tuple[Segment, ...]) -> Transcript:
        return replace(self, segments=segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tubesum_version": self.tubesum_version,
            "created_at": self.created_at,
            "source": self.source.to_dict(),
            "media": self.info.to_dict(),
            "language": self.language,
            "language_probability": self.language_probability,
            "duration": self.duration,
            "origin": self.origin,
            "model": self.model,
            "diarization": self.diarization,
            "summary": self.summary.to_dict() if self.summary is not None else None,
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transcript:
        return cls(
            source=Source.from_dict(data["source"]),
            segments=tuple(Segment.from_dict(s) for s in data.get("segments") or ()),
            language=data.get("language"),
            origin=data["origin"],
            info=MediaInfo.from_dict(data.get("media") or {}),
            model=data.get("model"),
            language_probability=data.get("language_probability"),
            duration=data.get("duration"),
            tubesum_version=data.get("tubesum_version", ""),
            created_at=data.get("created_at", ""),
            summary=Summary.from_dict(data["summary"]) if data.get("summary") else None,
            diarization=data.get("diarization"),
        )


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the keys that are fields of ``cls`` (records stay readable across versions)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True, slots=True)
class Rendered:
    """One output format of a transcript, rendered in memory: what a download, a stored job artifact, a RunPod
    answer and the apps' save buttons all hand on (``tubesum.service.render`` makes them; the client reads them
    back from a server)."""

    format: str
    content_type: str
    filename: str
    data: bytes
