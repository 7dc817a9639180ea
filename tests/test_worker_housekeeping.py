"""Queue-worker housekeeping and executor queue metrics, in process: idle model unload, sweep, queue stats."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from inprocess import migrated_store
from tubesum.config import Settings
from tubesum.jobs.executor import LocalExecutor
from tubesum.jobs.saq_executor import WorkerState, _housekeep
from tubesum.metrics import QueueCollector, QueueStats, register_collector
from tubesum.model_estimates import Estimate
from tubesum.model_registry import REGISTRY, ModelKey
from tubesum.pipeline.models import clear_loaded_models, load_model, loaded_models


def _run_briefly(state: WorkerState, seconds: float) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(_housekeep(state))
        await asyncio.sleep(seconds)
        task.cancel()

    asyncio.run(main())


def test_idle_models_are_unloaded_after_the_ttl_and_not_while_busy(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"model_idle_ttl_seconds": 1, "data_dir": tmp_path / "data"})
    state = WorkerState(migrated_store(settings), settings, "w")
    clear_loaded_models()
    load_model(settings)
    assert len(loaded_models()) == 1
    others = [ModelKey("summary", "fake-llm", "cpu"), ModelKey("diarize", "fake-pyannote", "cpu")]
    for key in others:  # the other kinds, through registered fake loaders (the real ones: their own test files)
        REGISTRY.get(key, lambda: SimpleNamespace(), estimate=Estimate(1, "table"))
    _run_briefly(state, 0.3)  # used a moment ago: kept
    assert len(loaded_models()) == 1
    time.sleep(1.1)
    state.running["job"] = object()  # type: ignore[assignment]  # a job runs: never unload under it
    _run_briefly(state, 0.3)
    assert len(loaded_models()) == 1
    state.running.clear()
    _run_briefly(state, 0.3)
    assert loaded_models() == []
    assert not {i.kind for i in REGISTRY.snapshot() if i.loaded and i.name.startswith("fake-")}


def test_housekeeping_sweeps_dead_workers_dirs_only(settings: Settings, tmp_path: Path) -> None:
    work = tmp_path / "work"
    dead = work / "tubesum-999999-abc"  # no such pid
    mine = work / f"tubesum-{os.getpid()}-abc"
    for path in (dead, mine):
        path.mkdir(parents=True)
        (path / "audio.wav").write_bytes(b"x")
    settings = settings.model_copy(update={"work_dir": work, "data_dir": tmp_path / "data"})
    _run_briefly(WorkerState(migrated_store(settings), settings, "w"), 0.3)
    assert not dead.exists() and mine.exists()


def test_queue_collector_exports_jobs_and_workers_per_queue() -> None:
    registry = CollectorRegistry()
    stats = [QueueStats("gpu", queued=3, active=1, workers=2), QueueStats("cpu", queued=0, active=0, workers=0)]
    register_collector(QueueCollector(lambda: stats), registry)
    register_collector(QueueCollector(lambda: stats[:1]), registry)  # a second app in the process replaces it
    text = generate_latest(registry).decode()
    assert 'tubesum_queue_jobs{queue="gpu",state="queued"} 3.0' in text
    assert 'tubesum_queue_jobs{queue="gpu",state="active"} 1.0' in text
    assert 'tubesum_workers_alive{queue="gpu"} 2.0' in text
    assert 'queue="cpu"' not in text


def test_local_executor_reports_its_threads(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"workers": 2, "data_dir": tmp_path / "data"})
    executor = LocalExecutor(migrated_store(settings), settings, poll_interval=0.05)
    assert executor.queue_stats() == [QueueStats("local", queued=0, active=0, workers=0)]
    executor.start()
    try:
        assert executor.queue_stats() == [QueueStats("local", queued=0, active=0, workers=2)]
    finally:
        executor.stop(grace=0)
