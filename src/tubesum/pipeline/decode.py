"""Decode any audio/video container to 16 kHz mono float32 with PyAV (bundled FFmpeg, no ffmpeg binary).

``probe_duration`` reads the container header only, so duration limits apply before any decoding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tubesum.errors import (
    DurationLimitError,
    EmptyAudioError,
    SizeLimitError,
    SourceNotFoundError,
    UnsupportedMediaError,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["SAMPLE_RATE", "DecodedAudio", "check_duration", "check_size", "decode_audio", "probe_duration"]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# Less than this is not speech anyone can transcribe (and Whisper would hallucinate on it).
_MIN_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def _not_media(path: Path, exc: BaseException | None = None) -> UnsupportedMediaError:
    why = f" ({type(exc).__name__})" if exc is not None else ""
    return UnsupportedMediaError(
        f"{path.name} is not an audio or video file that can be decoded{why}.",
        hint="Pass a media file (mp3, m4a, wav, webm, mp4, ...).",
    )


def probe_duration(path: Path) -> float | None:
    """Return the container's duration in seconds (None when the header does not say)."""
    import av

    if not path.is_file():
        raise SourceNotFoundError(f"No such file: {path}")
    if path.stat().st_size == 0:
        raise EmptyAudioError(f"{path.name} is empty (0 bytes).")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise EmptyAudioError(f"{path.name} has no audio stream.")
            if container.duration is not None:
                return float(container.duration) / 1_000_000  # av.time_base
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return None
    except av.error.FFmpegError as exc:
        raise _not_media(path, exc) from None


def check_duration(duration: float | None, *, max_duration: int, name: str) -> None:
    """Refuse media longer than ``max_duration`` seconds (0 means no limit)."""
    if max_duration and duration is not None and duration > max_duration:
        raise DurationLimitError(
            f"{name} is {duration / 60:.1f} min long; the limit is {max_duration / 60:.1f} min.",
            hint="Raise TUBESUM_MAX_DURATION (seconds, 0 = no limit) to accept longer media.",
            duration=round(duration, 1),
            limit=max_duration,
        )


def check_size(size: int, *, max_mb: int, name: str) -> None:
    """Refuse files larger than ``max_mb`` megabytes (0 means no limit)."""
    if max_mb and size > max_mb * 1024 * 1024:
        raise SizeLimitError(
            f"{name} is {size / 2**20:.0f} MB; the limit is {max_mb} MB.",
            hint="Raise TUBESUM_MAX_FILESIZE_MB (0 = no limit) to accept larger files.",
            size_mb=round(size / 2**20, 1),
            limit_mb=max_mb,
        )


def decode_audio(path: Path) -> DecodedAudio:
    """Decode ``path`` to 16 kHz mono float32; empty or undecodable media raise clear errors."""
    import av
    from faster_whisper.audio import decode_audio as fw_decode

    try:
        samples = fw_decode(str(path), sampling_rate=SAMPLE_RATE)
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        # IndexError: container without an audio stream; ValueError: empty frame list
        if isinstance(exc, IndexError):
            raise EmptyAudioError(f"{path.name} has no audio stream.") from None
        raise _not_media(path, exc) from None
    audio = DecodedAudio(samples=samples, sample_rate=SAMPLE_RATE)
    if audio.duration < _MIN_SECONDS:
        raise EmptyAudioError(
            f"{path.name} contains no audio ({audio.duration:.2f} s decoded).",
            hint="Check that the file plays and is not silent or truncated.",
        )
    logger.debug("decoded audio", extra={"file": path.name, "seconds": round(audio.duration, 2)})
    return audio
