"""Prometheus metrics of the job pipeline (HTTP request metrics come from Litestar's Prometheus middleware).

Counters and histograms are updated by the executors; gauges that mirror the store (jobs by state, queue depth)
are read at scrape time by ``tubesum.jobs.metrics.StoreCollector``, so every API replica reports the same numbers.
This module is Base: it imports nothing of tubesum (the job states are the jobs layer's business).
Aggregates only: no job ids, sources, keys or addresses in labels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = [
    "AUDIO_SECONDS",
    "CACHE_HITS",
    "JOBS_FINISHED",
    "JOBS_SUBMITTED",
    "MODEL_LOAD_SECONDS",
    "REALTIME_FACTOR",
    "STAGE_SECONDS",
    "WEBHOOK_ATTEMPTS",
    "QueueCollector",
    "QueueStats",
    "ReadinessCollector",
    "gpu_memory",
    "register_collector",
]

logger = logging.getLogger(__name__)

JOBS_SUBMITTED = Counter("tubesum_jobs_submitted", "Jobs submitted through the API.", ["cache"])
JOBS_FINISHED = Counter("tubesum_jobs_finished", "Jobs that reached a final state.", ["state"])
CACHE_HITS = Counter("tubesum_cache_hits", "Submissions answered from a finished job's result.")
WEBHOOK_ATTEMPTS = Counter(
    "tubesum_webhook_attempts", "Webhook delivery attempts, by outcome (delivered, retry, failed).", ["outcome"]
)
STAGE_SECONDS = Histogram(
    "tubesum_stage_duration_seconds",
    "Wall time of pipeline stages.",
    ["stage"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
AUDIO_SECONDS = Counter("tubesum_audio_seconds_processed", "Seconds of audio transcribed.", ["origin"])
REALTIME_FACTOR = Histogram(
    "tubesum_realtime_factor",
    "Audio seconds per second of transcription (higher is faster).",
    buckets=(0.5, 1, 2, 5, 10, 20, 50, 100, 200),
)
MODEL_LOAD_SECONDS = Histogram(
    "tubesum_model_load_seconds", "Time to load a Whisper model.", ["device"], buckets=(0.5, 1, 2, 5, 10, 30, 60, 120)
)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One executor queue at a moment: jobs waiting, jobs running, workers alive."""

    queue: str
    queued: int
    active: int
    workers: int


class QueueCollector(Collector):
    """Per-queue jobs and live workers from the executor (SAQ's queue info, or the local worker threads)."""

    def __init__(self, stats: Callable[[], Sequence[QueueStats]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        try:
            stats = list(self._stats())
        except Exception:
            logger.warning("metrics: could not read queue stats", exc_info=True)
            stats = []
        jobs = GaugeMetricFamily("tubesum_queue_jobs", "Jobs per executor queue.", labels=["queue", "state"])
        workers = GaugeMetricFamily("tubesum_workers_alive", "Workers alive per queue.", labels=["queue"])
        for stat in stats:
            jobs.add_metric([stat.queue, "queued"], stat.queued)
            jobs.add_metric([stat.queue, "active"], stat.active)
            workers.add_metric([stat.queue], stat.workers)
        yield jobs
        yield workers


def gpu_memory() -> Iterator[Metric]:
    try:
        import pynvml  # nvidia-ml-py, present in the CUDA image
    except ImportError:
        return
    try:
        pynvml.nvmlInit()
        used = GaugeMetricFamily("tubesum_gpu_memory_used_bytes", "GPU memory in use.", labels=["gpu"])
        total = GaugeMetricFamily("tubesum_gpu_memory_total_bytes", "GPU memory in total.", labels=["gpu"])
        for index in range(pynvml.nvmlDeviceGetCount()):
            info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index))
            used.add_metric([str(index)], info.used)
            total.add_metric([str(index)], info.total)
        yield used
        yield total
    except Exception:  # no driver: no GPU series
        return


class ReadinessCollector(Collector):
    """``tubesum_ready`` and one ``tubesum_ready_check`` per readiness check, run at scrape time (as /readyz)."""

    def __init__(self, checks: Callable[[], dict[str, dict[str, Any]]]) -> None:
        self._checks = checks

    def collect(self) -> Iterator[Metric]:
        try:
            checks = self._checks()
        except Exception:  # a check that cannot run is a failing check, not a failed scrape
            logger.warning("metrics: readiness checks failed", exc_info=True)
            checks = {"readiness": {"ok": False}}
        per_check = GaugeMetricFamily(
            "tubesum_ready_check", "1 when a readiness check passes, 0 when it fails.", labels=["check"]
        )
        for name, check in sorted(checks.items()):
            per_check.add_metric([name], 1 if check["ok"] else 0)
        yield GaugeMetricFamily(
            "tubesum_ready", "1 when /readyz would answer 200.", value=int(all(c["ok"] for c in checks.values()))
        )
        yield per_check


def register_collector(collector: Collector, registry: CollectorRegistry = REGISTRY) -> None:
    """Register ``collector``, replacing an earlier one of the same class (one app per process at a time)."""
    for existing in list(getattr(registry, "_collector_to_names", {})):
        if type(existing) is type(collector):
            registry.unregister(existing)
    registry.register(collector)
