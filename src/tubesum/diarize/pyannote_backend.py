"""Speaker diarization with a pyannote.audio pipeline (the ``diarize`` extra), loaded once per process.

Pipelines live in the model registry (``tubesum.model_registry``), keyed by name, checkpoint and device.

Which pipeline, and the errors when it cannot be had, are decided in ``tubesum.diarize.resolve`` (no torch);
names from there are re-exported here. Loading failures beyond those raise ModelLoadError. The device follows
``settings.device`` (auto: CUDA when torch sees one, else CPU, with the reason logged).

Audio comes in decoded (16 kHz mono float32) and is handed to pyannote as an in-memory waveform: the file is not
decoded again, and torchcodec (which cannot load beside the CPU torch) is never needed. pyannote 4 sends usage
telemetry to otel.pyannote.ai unless ``PYANNOTE_METRICS_ENABLED`` is set; tubesum sets it to 0 when unset.
The token is never logged and never part of a message.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tubesum.diarize.assign import normalise_labels
from tubesum.diarize.resolve import (
    MISSING_EXTRA,
    DiarizeCheck,
    ResolvedPipeline,
    check_available,
    doctor_checks,
    download_hint,
    hub_error,
    hub_token,
    resolve_pipeline,
)
from tubesum.errors import (
    ConfigError,
    DeviceUnavailableError,
    DiarizationError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    TubesumError,
)
from tubesum.model_estimates import diarize_estimate
from tubesum.model_registry import REGISTRY, ModelKey
from tubesum.records import SpeakerTurn

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.pipeline.decode import DecodedAudio
    from tubesum.progress import ProgressFn

__all__ = [
    "DiarizeCheck",
    "Diarizer",
    "ResolvedPipeline",
    "check_available",
    "clear_loaded_pipelines",
    "doctor_checks",
    "resolve_pipeline",
]

logger = logging.getLogger(__name__)


def _import_pipeline_class() -> Any:
    """Import ``pyannote.audio.Pipeline``, translating a missing or broken install into a clear error."""
    # pyannote.audio 4 reports usage to otel.pyannote.ai unless told otherwise; an explicit user choice wins.
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    try:
        with _logged_warnings():
            from pyannote.audio import Pipeline
    except ImportError as exc:
        raise MissingExtraError(*MISSING_EXTRA, package="pyannote.audio") from exc
    except OSError as exc:  # a torchaudio/torch native library that does not load
        raise DiarizationError(
            f"pyannote.audio is installed but cannot be imported: {exc}",
            hint="Reinstall it with scripts/install-ml diarize (on a CPU-only torch it repairs torchaudio).",
        ) from exc
    return Pipeline


@contextlib.contextmanager
def _logged_warnings() -> Iterator[None]:
    """Turn the warnings pyannote/torch emit into log records (they are noise on a terminal, errors in tests).

    Not thread-isolated before Python 3.14: another thread's warning raised meanwhile is logged here too.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for item in caught:
                level = logging.WARNING if issubclass(item.category, UserWarning) else logging.DEBUG
                if "torchcodec" in str(item.message):  # decoding is ours; pyannote never decodes files here
                    level = logging.DEBUG
                logger.log(level, "pyannote: %s", " ".join(str(item.message).split()), extra={"warning": True})


def _choose_device(requested: str) -> tuple[str, str]:
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise DeviceUnavailableError(
            "Device 'cuda' was requested but torch sees no CUDA device (diarization).",
            hint="Check the NVIDIA driver and that torch is a CUDA build, or use TUBESUM_DEVICE=auto.",
        )
    if requested == "cpu":
        return "cpu", "cpu requested"
    if requested == "cuda":
        return "cuda", "cuda requested"
    if available:
        return "cuda", f"auto: torch sees {torch.cuda.device_count()} CUDA device(s)"
    why = "torch is a CPU-only build" if torch.version.cuda is None else "torch sees no CUDA device"
    return "cpu", f"auto: {why}; using CPU"


@dataclass(slots=True)
class _Loaded:
    pipeline: Any
    device: str
    reason: str
    seconds: float
    key: ModelKey
    lock: threading.Lock = field(default_factory=threading.Lock)


def _key(resolved: ResolvedPipeline, device: str) -> ModelKey:
    return ModelKey("diarize", resolved.name, device, (resolved.checkpoint,))


def _load(resolved: ResolvedPipeline, settings: Settings) -> _Loaded:
    """Return the pipeline for ``resolved`` on the configured device from the model registry, loading it once."""
    pipeline_class = _import_pipeline_class()
    device, reason = _choose_device(settings.device)
    return REGISTRY.get(
        _key(resolved, device),
        lambda: _load_pipeline(pipeline_class, resolved, settings, device, reason),
        estimate=diarize_estimate(resolved.name),
    )


def _load_pipeline(
    pipeline_class: Any, resolved: ResolvedPipeline, settings: Settings, device: str, reason: str
) -> _Loaded:
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    token = hub_token(settings)[0]
    started = time.perf_counter()
    try:
        # pyannote prints a hint to stdout when a download fails; our error says it better
        with contextlib.redirect_stdout(io.StringIO()), _logged_warnings():
            pipeline = pipeline_class.from_pretrained(
                resolved.checkpoint, token=token, cache_dir=str(settings.model_cache_dir)
            )
            if pipeline is not None and device != "cpu":
                import torch

                pipeline.to(torch.device(device))
    except (HfHubHTTPError, LocalEntryNotFoundError, ConnectionError) as exc:
        raise hub_error(exc, resolved.name, settings) from None
    except FileNotFoundError as exc:
        raise ModelNotFoundError(
            f"Diarization model {resolved.name} is incomplete: {Path(exc.filename or '?').name} is missing.",
            hint=download_hint(resolved.name, settings),
            model=resolved.name,
        ) from None
    except Exception as exc:
        raise ModelLoadError(
            f"Could not load diarization model {resolved.name}: {type(exc).__name__}: {_scrub(exc, token)}",
            hint="Check that it is a pyannote.audio 4 pipeline (config.yaml); see: tubesum doctor",
            model=resolved.name,
        ) from exc
    if pipeline is None:
        raise ModelNotFoundError(f"pyannote found no pipeline at {resolved.name}.", model=resolved.name)
    loaded = _Loaded(pipeline, device, reason, time.perf_counter() - started, _key(resolved, device))
    logger.info(
        "diarization pipeline loaded",
        extra={
            "model": resolved.name,
            "origin": resolved.origin,
            "device": device,
            "reason": reason,
            "seconds": round(loaded.seconds, 3),
        },
    )
    return loaded


def _scrub(exc: BaseException, token: str | None) -> str:
    text = " ".join(str(exc).split())[:300]
    return text.replace(token, "***") if token else text


def clear_loaded_pipelines() -> None:
    """Unload every diarization pipeline (tests). Idle unload: ``tubesum.model_registry.REGISTRY.unload_idle``."""
    REGISTRY.unload_all("diarize")


@dataclass(frozen=True, slots=True)
class Diarizer:
    """A loaded pyannote pipeline; ``diarize`` may be called from several threads (runs are serialised)."""

    name: str
    device: str
    reason: str
    load_seconds: float
    _state: _Loaded = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Diarizer:
        """Resolve and load ``settings.diarization_model`` once per process (per device)."""
        resolved = check_available(settings)
        loaded = _load(resolved, settings)
        return cls(resolved.name, loaded.device, loaded.reason, loaded.seconds, loaded)

    def diarize(
        self,
        audio: DecodedAudio,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        progress: ProgressFn | None = None,
    ) -> list[SpeakerTurn]:
        """Return who speaks when in ``audio``, labelled SPEAKER_00, SPEAKER_01, … by first appearance.

        ``num_speakers`` wins over ``min_speakers``/``max_speakers``. ``progress("diarize", done, total)`` is
        called as pyannote works through its batches.
        """
        if num_speakers is None and min_speakers and max_speakers and min_speakers > max_speakers:
            raise ConfigError(f"min_speakers ({min_speakers}) is larger than max_speakers ({max_speakers}).")
        import numpy as np
        import torch

        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise DiarizationError(f"Expected mono audio, got samples of shape {samples.shape}.")
        if not samples.flags.writeable:
            samples = samples.copy()
        waveform = {"waveform": torch.from_numpy(samples)[None], "sample_rate": audio.sample_rate}
        started = time.perf_counter()
        try:
            with self._state.lock, _logged_warnings(), torch.inference_mode():
                output = self._state.pipeline(
                    waveform,
                    num_speakers=num_speakers,
                    min_speakers=min_speakers,
                    max_speakers=max_speakers,
                    hook=_hook(progress),
                )
        except TubesumError:
            raise
        except Exception as exc:
            raise DiarizationError(
                f"Diarization failed: {type(exc).__name__}: {_scrub(exc, None)}", model=self.name
            ) from exc
        REGISTRY.touch(self._state.key)  # idle time counts from the end of a run
        turns = normalise_labels(_turns(output, audio.duration))
        logger.info(
            "diarized",
            extra={
                "model": self.name,
                "device": self.device,
                "speakers": len({t.speaker for t in turns}),
                "turns": len(turns),
                "seconds": round(time.perf_counter() - started, 3),
                "audio_seconds": round(audio.duration, 3),
            },
        )
        return turns


def _hook(progress: ProgressFn | None) -> Callable[..., None] | None:
    if progress is None:
        return None
    report = progress

    def hook(
        step: str, artifact: Any, file: Any = None, total: int | None = None, completed: int | None = None
    ) -> None:
        if completed is not None:
            report("diarize", float(completed), float(total) if total is not None else None)

    return hook


def _turns(output: Any, duration: float) -> list[SpeakerTurn]:
    """Read turns from a DiarizeOutput (the overlap-free ``exclusive`` view, made for transcripts) or Annotation."""
    annotation = getattr(output, "exclusive_speaker_diarization", None)
    if annotation is None:
        annotation = getattr(output, "speaker_diarization", output)
    turns = []
    for segment, _track, label in annotation.itertracks(yield_label=True):
        start, end = max(0.0, float(segment.start)), min(duration, float(segment.end))
        if end > start:
            turns.append(SpeakerTurn(start=round(start, 3), end=round(end, 3), speaker=str(label)))
    return turns
