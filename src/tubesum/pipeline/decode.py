"""Decode any audio/video container to 16 kHz mono float32 with PyAV (bundled FFmpeg, no ffmpeg binary).

``probe_duration`` reads the container header only, so duration limits apply before any decoding.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from collections.abc import Iterator
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
    import io
    from typing import BinaryIO

    import numpy as np
    import numpy.typing as npt

    Media = io.RawIOBase | BinaryIO  # a readable, seekable binary file object PyAV can open

__all__ = [
    "FIRST_WINDOW_SECONDS",
    "SAMPLE_RATE",
    "WINDOW_SECONDS",
    "AudioWindow",
    "DecodedAudio",
    "check_duration",
    "check_size",
    "decode_audio",
    "iter_windows",
    "probe_duration",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 300.0  # long media is decoded and transcribed this many seconds at a time (bounded memory)
FIRST_WINDOW_SECONDS = 30.0  # the service's first window: about one speech chunk, so the first words come soon
_CUT_SEARCH_SECONDS = 10.0  # a window ends at the quietest 100 ms in its last seconds, not inside a word
_CUT_FRAME = SAMPLE_RATE // 10
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_MMAP_THRESHOLD_BYTES = 16 << 20
# Less than this is not speech anyone can transcribe (and Whisper would hallucinate on it).
_MIN_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, slots=True)
class AudioWindow:
    """One piece of a long file: ``samples`` (16 kHz mono float32) starting ``start`` seconds into it."""

    start: float
    samples: npt.NDArray[np.float32]

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _not_media(path: Path | Media, exc: BaseException | None = None) -> UnsupportedMediaError:
    why = f" ({type(exc).__name__})" if exc is not None else ""
    return UnsupportedMediaError(
        f"{_name(path)} is not an audio or video file that can be decoded{why}.",
        hint="Pass a media file (mp3, m4a, wav, webm, mp4, ...).",
    )


def probe_duration(path: Path | Media) -> float | None:
    """Return the container's duration in seconds (None when the header does not say).

    ``path`` may also be a readable binary file object (a download still running: the header is enough).
    """
    import av

    if isinstance(path, Path):
        if not path.is_file():
            raise SourceNotFoundError(f"No such file: {path}")
        if path.stat().st_size == 0:
            raise EmptyAudioError(f"{path.name} is empty (0 bytes).")
    try:
        with av.open(_openable(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise EmptyAudioError(f"{_name(path)} has no audio stream.")
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


def iter_windows(
    path: Path | Media, *, window_seconds: float = WINDOW_SECONDS, first_window_seconds: float | None = None
) -> Iterator[AudioWindow]:
    """Decode ``path`` as :func:`decode_audio` does, but yield it in windows of about ``window_seconds``.

    ``first_window_seconds`` makes the first window shorter: its speech detection, features and decoding take
    a fraction of a full window's, so the first words come sooner (live transcripts).

    Memory stays bounded by the window, whatever the file's length. Each window (but the last) ends at the
    quietest 100 ms of its last ``_CUT_SEARCH_SECONDS``, so a cut falls in a pause, not inside a word; the rest
    starts the next window. Raises the same errors as :func:`decode_audio`. ``path`` may also be a readable
    binary file object (:class:`~tubesum.pipeline.growing_file.GrowingFile`: decoding while downloading).
    """
    import av
    import numpy as np
    from faster_whisper.audio import _group_frames, _ignore_invalid_frames, _resample_frames

    _large_buffers_back_to_the_os()
    target = int((first_window_seconds or window_seconds) * SAMPLE_RATE)
    pending: list[npt.NDArray[np.int16]] = []
    buffered = 0
    start = 0  # samples already yielded
    try:
        with av.open(_openable(path), mode="r", metadata_errors="ignore") as container:
            resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            frames = _resample_frames(
                _group_frames(_ignore_invalid_frames(container.decode(audio=0)), 500000), resampler
            )
            for frame in frames:
                array = frame.to_ndarray().reshape(-1)
                pending.append(array)
                buffered += len(array)
                if buffered < target:
                    continue
                joined = np.concatenate(pending)
                cut = _quiet_cut(joined, target)
                _return_free_memory()
                yield AudioWindow(start=start / SAMPLE_RATE, samples=joined[:cut].astype(np.float32) / 32768.0)
                start += cut
                pending, buffered = [joined[cut:]], len(joined) - cut
                target = int(window_seconds * SAMPLE_RATE)
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        if isinstance(exc, IndexError):
            raise EmptyAudioError(f"{_name(path)} has no audio stream.") from None
        raise _not_media(path, exc) from None
    rest = np.concatenate(pending) if pending else np.zeros(0, dtype=np.int16)
    total = (start + len(rest)) / SAMPLE_RATE
    if total < _MIN_SECONDS:
        raise EmptyAudioError(
            f"{_name(path)} contains no audio ({total:.2f} s decoded).",
            hint="Check that the file plays and is not silent or truncated.",
        )
    if len(rest):
        yield AudioWindow(start=start / SAMPLE_RATE, samples=rest.astype(np.float32) / 32768.0)


def _openable(media: Path | Media) -> str | Media:
    return str(media) if isinstance(media, Path) else media


def _name(media: Path | Media) -> str:
    return media.name if isinstance(media, Path) else str(getattr(media, "name", "media"))


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc, when this process runs on it (musl and others: None, and the allocator is left alone)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist
    except (OSError, AttributeError):
        logger.debug("glibc's mallopt/malloc_trim are not available; leaving the allocator as it is")
        return None
    return libc


@functools.cache
def _large_buffers_back_to_the_os() -> None:
    """Pin glibc's mmap threshold at 16 MiB: a window's big arrays (a 300 s window is 19 MB of samples) are
    then mapped and unmapped instead of carved from the heap, which glibc's growing dynamic threshold would
    otherwise let fragment, so peak memory crept up with the number of windows (+100 MB from 30 min to 2 h).
    Smaller buffers (a chunk's features, CTranslate2's tensors) stay on the heap: pinning the threshold at
    1 MiB kept memory just as flat but cost 23 % more CPU on 30 minutes of speech, every allocation becoming a
    map, page faults and an unmap (docs/performance.md). :func:`_return_free_memory` trims the heap between
    windows. No-op off glibc.
    """
    if (libc := _glibc()) is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _return_free_memory() -> None:
    """Give the heap's free pages back to the OS (``malloc_trim``) between windows, so the next window's
    arrays do not grow the peak. Takes milliseconds. No-op off glibc."""
    if (libc := _glibc()) is not None:
        libc.malloc_trim(0)


def _quiet_cut(samples: npt.NDArray[np.int16], target: int) -> int:
    """Return where to end a window of about ``target`` samples: the start of its quietest 100 ms frame near
    the end (searched in the last ``_CUT_SEARCH_SECONDS``)."""
    import numpy as np

    lo = max(_CUT_FRAME, target - int(_CUT_SEARCH_SECONDS * SAMPLE_RATE))
    tail = samples[lo:target].astype(np.float32)
    frames = len(tail) // _CUT_FRAME
    if frames < 2:
        return target
    energy = np.square(tail[: frames * _CUT_FRAME].reshape(frames, _CUT_FRAME)).mean(axis=1)
    quietest = int(np.argmin(energy[::-1]))  # ties: the latest frame, so windows stay long
    return lo + (frames - 1 - quietest) * _CUT_FRAME + _CUT_FRAME // 2
