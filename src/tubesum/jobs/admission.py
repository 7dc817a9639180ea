"""GPU admission control for queue workers: take a job only when its models fit the free GPU memory.

A worker asks :func:`admit` before it claims a job::

    decision = admit("large-v3", settings=settings, free_mb=free_gpu_mb(), loaded=gpu_models(), summarize=True)
    if decision.action == "wait":   # leave the job queued for a worker with room
        ...
    run_settings = settings.model_copy(update={"device": decision.device})

A job needs its Whisper model, plus the local summary LLM when it summarizes with the transformers backend, plus
the pyannote pipeline when it diarizes. Each figure comes from ``tubesum.model_estimates`` (the same estimates the
model registry shows); a model this process already holds on the GPU (:func:`gpu_models`, read from the model
registry) costs nothing more. Without NVML (no driver, CPU hosts) nothing is measured and every job is admitted
as configured.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tubesum.model_estimates import ModelKind, diarize_estimate, summary_estimate, whisper_estimate
from tubesum.model_registry import REGISTRY

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = ["Admission", "ModelNeed", "admit", "free_gpu_mb", "gpu_models", "job_needs", "required_mb"]

logger = logging.getLogger(__name__)

HEADROOM_MB = 512  # left free for the CUDA context and fragmentation


@dataclass(frozen=True, slots=True)
class Admission:
    """What a worker should do with a job: run it on ``device``, or leave it queued (``wait``)."""

    action: Literal["run", "wait"]
    device: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelNeed:
    """One model a job will load on the GPU, and its estimated memory (MB)."""

    kind: ModelKind
    name: str
    mb: int


def required_mb(model: str, compute_type: str = "float16") -> int:
    """GPU memory (MB) a transcription with ``model`` needs; int8 variants need about 60 % of float16."""
    return whisper_estimate(model, compute_type).mb


def _local_llm(settings: Settings) -> bool:
    """Whether summaries run on a local LLM (the summarizer factory's rule for ``auto``, without importing it)."""
    backend = settings.summary_backend
    if backend == "auto":
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))
    return backend == "transformers"


def job_needs(model: str, *, settings: Settings, diarize: bool = False, summarize: bool = False) -> list[ModelNeed]:
    """The models a job with Whisper ``model`` (and diarization, summaries) loads on the GPU, with their needs."""
    compute = settings.compute_type if settings.compute_type != "auto" else "float16"
    needs = [ModelNeed("whisper", model, whisper_estimate(model, compute).mb)]
    if summarize and _local_llm(settings):
        estimate = summary_estimate(settings.summary_model, gguf_file=settings.summary_gguf_file, device="cuda")
        needs.append(ModelNeed("summary", settings.summary_model, estimate.mb))
    if diarize:
        needs.append(ModelNeed("diarize", settings.diarization_model, diarize_estimate(settings.diarization_model).mb))
    return needs


def gpu_models() -> frozenset[tuple[ModelKind, str]]:
    """The (kind, name) of every model this process holds on a GPU now, from the model registry."""
    return frozenset((m.kind, m.name) for m in REGISTRY.snapshot() if m.loaded and m.device == "cuda")


def admit(
    model: str,
    *,
    settings: Settings,
    free_mb: int | None,
    loaded: frozenset[str] | frozenset[tuple[ModelKind, str]] = frozenset(),
    diarize: bool = False,
    summarize: bool = False,
) -> Admission:
    """Decide where a job with ``model`` (diarized, summarized) runs on this worker (see the module docstring).

    ``free_mb`` is the free memory of this worker's GPU (None: not measurable, e.g. CPU host); ``loaded`` are the
    models this process already holds on the GPU (:func:`gpu_models`; plain Whisper names are accepted too).
    ``settings.gpu_full`` says what happens when they do not fit: ``cpu`` runs the job on the CPU, ``wait``
    leaves it for another worker.
    """
    if settings.device == "cpu" or free_mb is None:
        return Admission("run", settings.device, "no GPU memory to check")
    needs = job_needs(model, settings=settings, diarize=diarize, summarize=summarize)
    held = {(n.kind, n.name) for n in needs if (n.kind, n.name) in loaded or (n.kind == "whisper" and n.name in loaded)}
    missing = [n for n in needs if (n.kind, n.name) not in held]
    if not missing:
        return Admission("run", settings.device, f"{_names(needs)} already loaded")
    need = sum(n.mb for n in missing) + HEADROOM_MB
    verb = "needs" if len(missing) == 1 else "need"
    if need <= free_mb:
        return Admission("run", settings.device, f"{_names(missing)} {verb} ~{need} MB, {free_mb} MB free")
    reason = f"{_names(missing)} {verb} ~{need} MB of GPU memory, {free_mb} MB free"
    if settings.gpu_full == "cpu":
        return Admission("run", "cpu", reason + "; running on the CPU")
    return Admission("wait", settings.device, reason + "; leaving it for another worker")


def _names(needs: list[ModelNeed]) -> str:
    labels = {"whisper": "", "summary": "summary model ", "diarize": "diarization model "}
    return " + ".join(labels[n.kind] + n.name for n in needs)


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
