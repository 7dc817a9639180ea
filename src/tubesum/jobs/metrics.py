"""Prometheus gauges that mirror the job store (jobs by state, queue depth, oldest queued job), read at scrape
time so every API replica reports the same numbers. Lives in jobs/ because it knows the job states;
:mod:`tubesum.metrics` (Base) holds the counters and the collectors that know nothing of jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tubesum.jobs.types import JobState
from tubesum.metrics import gpu_memory, register_collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["StoreCollector", "register_store_collector"]

logger = logging.getLogger("tubesum.metrics")


class StoreCollector(Collector):
    """Jobs by state, queue depth, jobs in flight and the oldest queued job's age, read from the job store at
    scrape time; GPU memory when NVML is there.
    """

    def __init__(
        self,
        counts: Callable[[], dict[JobState, int]],
        oldest_queued: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self._counts = counts
        self._oldest_queued = oldest_queued

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._counts()
        except Exception:  # a scrape must not fail because the DB blinked; readiness reports that
            logger.warning("metrics: could not read job counts", exc_info=True)
            counts = {}
        by_state = GaugeMetricFamily("tubesum_jobs", "Jobs in the store by state.", labels=["state"])
        for state in JobState:
            by_state.add_metric([state.value], counts.get(state, 0))
        yield by_state
        yield GaugeMetricFamily("tubesum_queue_depth", "Jobs waiting to run.", value=counts.get(JobState.QUEUED, 0))
        yield GaugeMetricFamily(
            "tubesum_jobs_in_flight", "Jobs running now, on any worker.", value=counts.get(JobState.RUNNING, 0)
        )
        try:
            oldest = self._oldest_queued()
        except Exception:
            oldest = None
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "tubesum_oldest_queued_age_seconds", "How long the oldest queued job has waited (0: none).", value=age
        )
        yield from gpu_memory()


def register_store_collector(
    counts: Callable[[], dict[JobState, int]],
    oldest_queued: Callable[[], datetime | None] = lambda: None,
    registry: CollectorRegistry = REGISTRY,
) -> StoreCollector:
    """Register (once per registry) a collector reading the store; re-registering replaces the old one."""
    collector = StoreCollector(counts, oldest_queued)
    register_collector(collector, registry)
    return collector
