"""Records the bench passes around, and its one error."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tubesum.errors import BenchError

__all__ = ["BenchError", "CorpusFile", "ProcessStats", "percentile", "summarize_latencies"]


@dataclass(frozen=True, slots=True)
class CorpusFile:
    """One benchmark audio file: generated from ``seed`` (or supplied by the user when ``seed`` is None)."""

    name: str
    path: Path
    seconds: float
    sha256: str
    seed: int | None = None
    script: str | None = None  # the words spoken (generated files): the reference of the WER column

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "seconds": round(self.seconds, 3),
            "sha256": self.sha256,
            "seed": self.seed,
            "script_words": len(self.script.split()) if self.script else None,
        }


@dataclass(frozen=True, slots=True)
class ProcessStats:
    """What one measured child process cost: wall and CPU seconds, peak RSS, GPU when sampled."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    gpu: dict[str, float] | None = None
    output: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "gpu": self.gpu,
        }


def percentile(values: Sequence[float], p: float) -> float:
    """Return the nearest-rank ``p`` percentile (0 < p ≤ 1) of ``values`` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p * len(ordered))))
    return ordered[rank - 1]


def summarize_latencies(seconds: Sequence[float]) -> dict[str, float]:
    """Return count, p50, p99, mean and max of latencies given in seconds, as milliseconds."""
    if not seconds:
        return {"count": 0, "p50_ms": 0.0, "p99_ms": 0.0, "mean_ms": 0.0, "max_ms": 0.0}
    return {
        "count": len(seconds),
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 3),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
    }
