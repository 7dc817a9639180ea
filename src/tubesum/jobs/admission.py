"""GPU admission control for queue workers: take a job only when its model fits the free GPU memory.

A worker asks :func:`admit` before it claims a job::

    decision = admit("large-v3", settings=settings, free_mb=free_gpu_mb(), loaded=loaded_model_names())
    if decision.action == "wait":   # leave the job queued for a worker with room
        ...
    run_settings = settings.model_copy(update={"device": decision.device})

Needs are Whisper weights plus activations at float16 (CTranslate2's own figures, rounded up; int8 needs about
60 %). A model this process already holds costs nothing more. Without NVML (no driver, CPU hosts) nothing is
measured and every job is admitted as configured.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = ["Admission", "admit", "free_gpu_mb", "required_mb"]

logger = logging.getLogger(__name__)

# float16 MB needed to transcribe with each model family (weights + beam search working set), largest match first.
_NEEDS_MB: tuple[tuple[str, int], ...] = (
    ("large-v3-turbo", 3300),
    ("turbo", 3300),
    ("distil-large", 3300),
    ("large", 5200),
    ("distil-medium", 2000),
    ("medium", 3500),
    ("distil-small", 1000),
    ("small", 1500),
    ("base", 800),
    ("tiny", 600),
)
_UNKNOWN_MODEL_MB = 5200  # an unknown repo id or path: assume large
HEADROOM_MB = 512  # left free for the CUDA context and fragmentation


@dataclass(frozen=True, slots=True)
class Admission:
    """What a worker should do with a job: run it on ``device``, or leave it queued (``wait``)."""

    action: Literal["run", "wait"]
    device: str
    reason: str


def required_mb(model: str, compute_type: str = "float16") -> int:
    """GPU memory (MB) a transcription with ``model`` needs; int8 variants need about 60 % of float16."""
    name = model.rsplit("/", 1)[-1].lower()
    need = next((mb for family, mb in _NEEDS_MB if re.search(rf"(^|[-_.]){re.escape(family)}", name)), None)
    need = need or _UNKNOWN_MODEL_MB
    return int(need * 0.6) if compute_type.startswith("int8") else need


def admit(model: str, *, settings: Settings, free_mb: int | None, loaded: frozenset[str] = frozenset()) -> Admission:
    """Decide where a job with ``model`` runs on this worker (see the module docstring).

    ``free_mb`` is the free memory of this worker's GPU (None: not measurable, e.g. CPU host); ``loaded`` are the
    model names this process already holds on the GPU. ``settings.gpu_full`` says what happens when it does not
    fit: ``cpu`` runs it on the CPU, ``wait`` leaves it for another worker.
    """
    if settings.device == "cpu" or free_mb is None:
        return Admission("run", settings.device, "no GPU memory to check")
    if model in loaded:
        return Admission("run", settings.device, f"{model} is already loaded")
    compute = settings.compute_type if settings.compute_type != "auto" else "float16"
    need = required_mb(model, compute) + HEADROOM_MB
    if need <= free_mb:
        return Admission("run", settings.device, f"{model} needs ~{need} MB, {free_mb} MB free")
    reason = f"{model} needs ~{need} MB of GPU memory, {free_mb} MB free"
    if settings.gpu_full == "cpu":
        return Admission("run", "cpu", reason + "; running on the CPU")
    return Admission("wait", settings.device, reason + "; leaving it for another worker")


def free_gpu_mb() -> int | None:
    """Free memory (MB) of the first GPU this process may use, via NVML; None without NVML or a GPU."""
    try:
        import pynvml  # nvidia-ml-py: in the CUDA image
    except ImportError:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
    try:
        pynvml.nvmlInit()
        handle = (
            pynvml.nvmlDeviceGetHandleByIndex(int(visible))
            if visible.isdigit()
            else pynvml.nvmlDeviceGetHandleByUUID(visible)
        )
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).free // 2**20)
    except Exception:  # no driver, no device: nothing to measure
        logger.debug("NVML could not report free GPU memory", exc_info=True)
        return None
