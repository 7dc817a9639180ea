"""How much memory each kind of model needs on its device, before it is loaded (rough, on purpose).

GPU admission (``tubesum.jobs.admission``) adds these up for the models a job will load; the model registry
(``tubesum.model_registry``) keeps the figure beside each loaded model for ``tubesum models status`` and the
metrics. One figure per model: VRAM when it runs on CUDA, RAM on the CPU. Where each number comes from:

* **Whisper**: a table of CTranslate2's float16 figures per model family (weights plus the beam-search working
  set, rounded up); int8 variants need about 60 %. Unknown names (a repo id, a local path) count as large.
* **Summary LLM**: parameters × bytes per parameter at the dtype the backend loads (bfloat16/float16 on CUDA,
  float32 on the CPU) × 1.2, plus 512 MB for the KV cache at the 8192-token context cap. The parameter count is
  read from the name (``Qwen2.5-1.5B-Instruct``, ``SmolLM2-135M``); else from the weights' size on disk for a
  local directory (safetensors/bin as 2 bytes a parameter, GGUF as 1 byte); else a 1.5B model is assumed.
* **Diarization (pyannote)**: a table: the segmentation and embedding networks are small (~30 MB of weights),
  but batched inference keeps about 1.5 GB in use.

Pure functions over names and file sizes: nothing here imports torch, CTranslate2 or pyannote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DIARIZE_NEED_MB",
    "Estimate",
    "ModelKind",
    "diarize_estimate",
    "summary_estimate",
    "whisper_estimate",
]

ModelKind = Literal["whisper", "summary", "diarize"]

# float16 MB needed to transcribe with each Whisper family (weights + beam search working set), largest match first.
_WHISPER_MB: tuple[tuple[str, int], ...] = (
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
_UNKNOWN_WHISPER_MB = 5200  # an unknown repo id or path: assume large
DIARIZE_NEED_MB = 1500  # pyannote segmentation + embedding with their default batch sizes
_KV_CACHE_MB = 512  # attention cache at the 8192-token context cap of the transformers backend
_DEFAULT_LLM_PARAMS = 1.5e9  # a hub id that names no size: the size of the documented default model
_PARAMS = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s*([MB])(?![A-Za-z])", re.IGNORECASE)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True, slots=True)
class Estimate:
    """Memory (MB) a model needs on its device, and what the figure is based on (``table``, ``name``, ``disk``,
    ``default``)."""

    mb: int
    basis: str


def whisper_estimate(model: str, compute_type: str = "float16") -> Estimate:
    """Memory a transcription with Whisper ``model`` needs; int8 variants need about 60 % of float16."""
    name = model.rstrip("/").rsplit("/", 1)[-1].lower()
    need = next((mb for family, mb in _WHISPER_MB if re.search(rf"(^|[-_.]){re.escape(family)}", name)), None)
    basis = "table" if need is not None else "default"
    need = need or _UNKNOWN_WHISPER_MB
    return Estimate(int(need * 0.6) if compute_type.startswith("int8") else need, basis)


def _params_from_name(model: str) -> float | None:
    name = model.rstrip("/").rsplit("/", 1)[-1]
    match = _PARAMS.search(name)
    if match is None:
        return None
    return float(match.group(1)) * (1e6 if match.group(2).upper() == "M" else 1e9)


def _params_from_disk(model: str, gguf_file: str | None) -> float | None:
    path = Path(model).expanduser()
    if not path.is_dir():
        return None
    if gguf_file or any(path.glob("*.gguf")):
        files = [path / gguf_file] if gguf_file else list(path.glob("*.gguf"))
        size = sum(f.stat().st_size for f in files if f.is_file())
        return float(size) if size else None  # ~8-bit quantisations: about one byte a parameter
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.suffix in _WEIGHT_SUFFIXES)
    return size / 2 if size else None  # 16-bit checkpoints: two bytes a parameter


def summary_estimate(model: str, *, gguf_file: str | None = None, device: str = "cuda") -> Estimate:
    """Memory the local summary LLM ``model`` (hub id or directory) needs on ``device`` (``cuda`` or ``cpu``)."""
    params, basis = _params_from_name(model), "name"
    if params is None:
        params, basis = _params_from_disk(model, gguf_file), "disk"
    if params is None:
        params, basis = _DEFAULT_LLM_PARAMS, "default"
    bytes_per_param = 2 if device == "cuda" else 4
    return Estimate(int(params * bytes_per_param * 1.2 / 2**20) + _KV_CACHE_MB, basis)


def diarize_estimate(model: str) -> Estimate:
    """Memory a pyannote diarization pipeline needs (one figure for the pyannote 3.1/4 pipelines)."""
    del model  # every published pipeline pairs the same small networks
    return Estimate(DIARIZE_NEED_MB, "table")
