"""LocalExecutor: pickup, parallel workers, cancel, graceful stop, start-up recovery, temp sweep, retention."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from jobs_fakes import STORE_KINDS, RecordingStore, make_long_speech, make_store, new_job, saved_transcript, wait_for
from tubesum import outputs, service
from tubesum.config import Settings
from tubesum.jobs import executor as executor_module
from tubesum.jobs import runner
from tubesum.jobs.executor import LocalExecutor, sweep_workdirs, worker_count
from tubesum.jobs.types import JobState
from tubesum.pipeline.models import clear_loaded_models, load_model, loaded_models
from tubesum.records import Transcript

pytestmark = pytest.mark.usefixtures("loopback_dns_only")

Factory = Callable[..., LocalExecutor]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RecordingStore:
    return RecordingStore(make_store(request.param, tmp_path))


@pytest.fixture
def web(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_generic_urls": True, "workers": 1})


@pytest.fixture
def speech_url(http_server: LoopbackServer, make_media: Any) -> str:
    shutil.copy(make_media("speech.m4a"), http_server.root / "speech.m4a")
    return http_server.url("speech.m4a")


@pytest.fixture
def executors(store: RecordingStore) -> Iterator[Factory]:
    """Make executors on the test's store; every one is stopped at the end of the test."""
    made: list[LocalExecutor] = []

    def make(settings: Settings, **kwargs: Any) -> LocalExecutor:
        made.append(LocalExecutor(store, settings, **kwargs))
        return made[-1]

    yield make
    for executor in made:
        executor.stop(grace=0)


def state_of(store: RecordingStore, job_id: str) -> JobState | None:
    job = store.get(job_id)
    return job.state if job else None


def forbid_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pipeline(*args: Any, **kwargs: Any) -> Transcript:
        raise AssertionError("the pipeline must not run again: the checkpoint has the transcript")

    monkeypatch.setattr(service, "transcribe_source", no_pipeline)


def test_executor_picks_up_a_job_as_soon_as_it_is_notified(
    store: RecordingStore, web: Settings, speech_url: str, executors: Factory
) -> None:
    executor = executors(web, poll_interval=600)  # no polling within the test: only notify() wakes it
    executor.start()
    assert executor.alive and executor.running_jobs() == []
    wait_for(lambda: store.claims >= 1, what="the idle worker's first claim")
    job, _ = store.create(new_job(speech_url, formats=("txt",)))
    executor.notify()
    wait_for(lambda: state_of(store, job.id) == JobState.SUCCEEDED, timeout=120, what="the job to succeed")
    txt = store.artifact(job.id, "txt")
    assert txt is not None and word_overlap(SPEECH_WORDS, txt.data.decode()) >= 0.6
    executor.stop()
    assert not executor.alive
    executor.stop()  # idempotent
    with pytest.raises(RuntimeError):
        executor.start()


def test_executor_runs_as_many_jobs_at_once_as_it_has_workers(
    store: RecordingStore, web: Settings, speech_url: str, executors: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = threading.Barrier(2, timeout=30)  # breaks (and fails the jobs) unless both run at the same time
    real = service.transcribe_source

    def meet_then_transcribe(*args: Any, **kwargs: Any) -> Transcript:
        together.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "transcribe_source", meet_then_transcribe)
    jobs = [store.create(new_job(speech_url, formats=("txt",)))[0] for _ in range(2)]
    executor = executors(web.model_copy(update={"workers": 2}))
    executor.start()
    wait_for(lambda: len(executor.running_jobs()) == 2, what="two jobs running at once")
    wait_for(lambda: all(state_of(store, j.id) in (JobState.SUCCEEDED, JobState.FAILED) for j in jobs))
    assert [state_of(store, j.id) for j in jobs] == [JobState.SUCCEEDED, JobState.SUCCEEDED]


def test_cancel_stops_a_job_running_in_this_process(
    store: RecordingStore,
    web: Settings,
    http_server: LoopbackServer,
    media_dir: Path,
    speech_wav: Path,
    executors: Factory,
) -> None:
    shutil.copy(make_long_speech(media_dir, speech_wav), http_server.root / "long.wav")
    executor = executors(web.model_copy(update={"vad_filter": False}))
    executor.start()
    job, _ = store.create(new_job(http_server.url("long.wav"), formats=("txt",)))
    executor.notify()
    wait_for(lambda: "transcribe" in store.stages(job.id), what="transcription to start")
    assert executor.cancel(job.id) is True
    wait_for(lambda: state_of(store, job.id) == JobState.CANCELLED, what="the job to be cancelled")
    wait_for(lambda: executor.running_jobs() == [])
    assert executor.cancel(job.id) is False and executor.cancel("no-such-job") is False
    assert (job.id, "transcribe", 1.0) not in store.progress, "stopped mid-way, not at the end"
    assert web.work_dir is not None and list(web.work_dir.iterdir()) == []


def test_stop_requeues_a_running_job_with_its_checkpoint_and_a_new_executor_finishes_it_once(
    store: RecordingStore, web: Settings, speech_url: str, executors: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancel_events: dict[str, threading.Event] = {}
    rendering, blocking = threading.Event(), threading.Event()
    blocking.set()
    real_run_job, real_render = runner.run_job, outputs.render

    def spy_run_job(job: Any, **kwargs: Any) -> None:
        cancel_events[job.id] = kwargs["cancel"]
        real_run_job(job, **kwargs)

    def render_until_shutdown(transcript: Transcript, fmt: Any, **kwargs: Any) -> bytes:
        if not blocking.is_set():  # the second executor renders normally
            return real_render(transcript, fmt, **kwargs)
        rendering.set()
        cancel_events[job.id].wait(30)  # stuck in the render stage until stop() stops waiting
        return real_render(transcript, fmt, **kwargs)

    monkeypatch.setattr(executor_module, "run_job", spy_run_job)
    monkeypatch.setattr(outputs, "render", render_until_shutdown)
    formats = ("txt", "srt", "vtt")
    job, _ = store.create(new_job(speech_url, formats=formats))
    first = executors(web)
    first.start()
    first.notify()
    assert rendering.wait(60), "the job never reached the render stage"
    first.stop(grace=0.1)

    requeued = store.get(job.id)
    assert requeued is not None and requeued.state == JobState.QUEUED, requeued
    assert "transcript" in requeued.checkpoint and requeued.attempts == 1
    assert store.artifact(job.id, "txt") is None and store.succeeded == []

    blocking.clear()
    forbid_pipeline(monkeypatch)
    second = executors(web)
    second.start()
    wait_for(lambda: state_of(store, job.id) == JobState.SUCCEEDED, what="the requeued job to finish")
    done = store.get(job.id)
    assert done is not None and done.attempts == 2
    assert sorted(done.formats) == sorted(formats) and store.succeeded == [job.id]
    assert all(store.artifact(job.id, fmt) is not None for fmt in formats)
    txt = store.artifact(job.id, "txt")
    assert txt is not None and word_overlap(SPEECH_WORDS, txt.data.decode()) >= 0.6


def test_start_requeues_a_job_left_running_by_a_dead_process(
    store: RecordingStore, web: Settings, executors: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "http://127.0.0.1:9/talk.m4a"
    job, _ = store.create(new_job(url, formats=("txt", "json")))
    assert store.claim(worker="dead-host:4242:abc") is not None  # the process died after the transcript stage
    crashed = saved_transcript(url, text="Saved before the crash.", title="Crash test", duration=2.0)
    store.save_checkpoint(
        job.id,
        "transcript",
        crashed.to_dict(),
    )
    forbid_pipeline(monkeypatch)
    executor = executors(web)
    executor.start()
    wait_for(lambda: state_of(store, job.id) == JobState.SUCCEEDED, what="the orphaned job to finish")
    txt = store.artifact(job.id, "txt")
    assert txt is not None and b"Saved before the crash." in txt.data
    assert store.succeeded == [job.id]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_start_sweeps_work_dirs_of_dead_processes_only(
    store: RecordingStore, web: Settings, executors: Factory
) -> None:
    assert web.work_dir is not None
    web.work_dir.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_dir = web.work_dir / f"tubesum-{_dead_pid()}-abc123"
        live_dir = web.work_dir / f"tubesum-{live.pid}-def456"
        ours = web.work_dir / f"tubesum-{os.getpid()}-ghi789"
        ours_old = web.work_dir / f"tubesum-{os.getpid()}-old000"  # a restarted container's PID, reused
        no_pid = web.work_dir / "tubesum-legacy"
        for path in (dead_dir, live_dir, ours, ours_old, no_pid):
            path.mkdir()
            (path / "audio.webm").write_bytes(b"x")
        day_ago = time.time() - 86400
        os.utime(ours_old, (day_ago, day_ago))
        executors(web).start()
        assert sorted(p.name for p in web.work_dir.iterdir()) == sorted(p.name for p in (live_dir, ours, no_pid))
    finally:
        live.kill()
        live.wait()
    assert sweep_workdirs(web.work_dir) == [live_dir]
    assert sweep_workdirs(web.work_dir / "missing") == []


def test_start_sweeps_the_system_temp_dir_of_a_killed_server_but_not_foreign_dirs(
    store: RecordingStore, web: Settings, executors: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20 item 11: with TUBESUM_WORK_DIR unset a SIGKILLed server's work dir (it would hold downloaded
    media) is swept from the system temp dir; dirs of another PID namespace or of live processes are kept."""
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    code = (
        "import sys, time; from tubesum.files import job_workdir\n"
        "with job_workdir(None) as d:\n"
        "    (d / 'audio.webm').write_bytes(b'x'); print(d, flush=True); time.sleep(60)\n"
    )
    env = {**os.environ, "TMPDIR": str(system_tmp), "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    assert killed.stdout is not None
    left = Path(killed.stdout.readline().strip())
    killed.kill()
    killed.wait()
    assert left.parent == system_tmp and (left / "audio.webm").exists()
    dead = _dead_pid()
    foreign = system_tmp / f"tubesum-{dead}-n1-abc123"  # another PID namespace: its pid means nothing here
    legacy = system_tmp / f"tubesum-{dead}-abc123"  # untagged: could be anyone's
    live = system_tmp / f"tubesum-{os.getpid()}-n{Path('/proc/self/ns/pid').stat().st_ino}-live00"
    for path in (foreign, legacy, live):
        path.mkdir()
    executors(web.model_copy(update={"work_dir": None})).start()
    assert not left.exists()
    assert foreign.exists() and legacy.exists() and live.exists()


def test_retention_purges_old_finished_jobs_only(store: RecordingStore, web: Settings) -> None:
    old, _ = store.create(new_job("http://127.0.0.1:9/a"))
    assert store.claim(worker="w") is not None
    store.fail(old.id, code="network", message="gone")
    running, _ = store.create(new_job("http://127.0.0.1:9/b"))
    assert store.claim(worker="w") is not None
    queued, _ = store.create(new_job("http://127.0.0.1:9/c"))
    executor = LocalExecutor(store, web.model_copy(update={"retention_days": 30}))
    assert executor.purge_expired() == 0, "a job finished just now is kept"
    assert executor.purge_expired(now=datetime.now(UTC) + timedelta(days=31)) == 1
    assert store.get(old.id) is None
    assert state_of(store, running.id) == JobState.RUNNING and state_of(store, queued.id) == JobState.QUEUED
    forever = LocalExecutor(store, web.model_copy(update={"retention_days": 0}))
    store.mark_cancelled(running.id)
    assert forever.purge_expired(now=datetime.now(UTC) + timedelta(days=3650)) == 0
    assert state_of(store, running.id) == JobState.CANCELLED


def test_housekeeping_purges_expired_jobs_at_start(store: RecordingStore, web: Settings, executors: Factory) -> None:
    settings = web.model_copy(update={"retention_days": 0.2 / 86400})  # 0.2 s
    job, _ = store.create(new_job("http://127.0.0.1:9/a"))
    store.cancel(job.id)  # queued -> cancelled at once
    finished = store.get(job.id)
    assert finished is not None and finished.finished_at is not None
    wait_for(lambda: datetime.now(UTC) > finished.finished_at + timedelta(seconds=0.3), what="the job to expire")
    executors(settings).start()
    wait_for(lambda: store.get(job.id) is None, what="the expired job to be purged")


def test_worker_count_follows_settings_then_gpus_then_cpus(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from tubesum.pipeline import models

    assert worker_count(settings.model_copy(update={"workers": 3})) == 3
    monkeypatch.setattr(models, "cuda_device_count", lambda: (2, None))
    assert worker_count(settings.model_copy(update={"device": "auto"})) == 2
    assert worker_count(settings) == max(4, (os.cpu_count() or 1) // 4)  # device=cpu ignores GPUs
    monkeypatch.setattr(models, "cuda_device_count", lambda: (0, "no GPU"))
    assert worker_count(settings.model_copy(update={"device": "auto"})) == max(4, (os.cpu_count() or 1) // 4)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_embedded_server_unloads_a_jobs_model_once_idle_for_the_ttl(
    store: RecordingStore, web: Settings, speech_url: str, executors: Factory
) -> None:
    clear_loaded_models()
    executor = executors(web.model_copy(update={"model_idle_ttl_seconds": 2}), watchdog_interval=0.1)
    executor.start()
    job, _ = store.create(new_job(speech_url, formats=("txt",)))
    executor.notify()
    wait_for(lambda: state_of(store, job.id) == JobState.SUCCEEDED, timeout=120, what="the job to succeed")
    succeeded = time.monotonic()
    assert [m.resolved.name for m in loaded_models()] == ["tiny.en"]  # idle counts from the job's end
    wait_for(lambda: loaded_models() == [], timeout=15, what="the idle model to be unloaded")
    assert time.monotonic() - succeeded >= 1.5  # not before the TTL
    again, _ = store.create(new_job(speech_url, formats=("txt",)))  # the next job loads it again
    executor.notify()
    wait_for(lambda: state_of(store, again.id) == JobState.SUCCEEDED, timeout=120, what="the second job")


def test_without_a_ttl_the_embedded_server_keeps_its_models(
    store: RecordingStore, web: Settings, executors: Factory
) -> None:
    clear_loaded_models()
    load_model(web)
    executor = executors(web, watchdog_interval=0.05)
    executor.start()
    time.sleep(0.5)
    assert len(loaded_models()) == 1
