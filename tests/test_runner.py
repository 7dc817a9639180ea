"""run_job: one claimed job end to end with the real tiny.en model, loopback media and real stores."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from jobs_fakes import (
    STORE_KINDS,
    MemoryJobStore,
    RecordingStore,
    make_long_speech,
    make_store,
    new_job,
    saved_transcript,
    wait_for,
)
from tubesum import service
from tubesum.config import Settings
from tubesum.jobs.runner import INTERNAL_ERROR_MESSAGE, CancelEvent, JobCancelled, JobProgress, run_job
from tubesum.jobs.types import JobRecord, JobState
from tubesum.records import Transcript

pytestmark = pytest.mark.usefixtures("loopback_dns_only")


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RecordingStore:
    return RecordingStore(make_store(request.param, tmp_path))


@pytest.fixture
def web(settings: Settings) -> Settings:
    """Settings that accept generic URLs (loopback is allowed by the fixture's allow_private_addresses)."""
    return settings.model_copy(update={"allow_generic_urls": True})


@pytest.fixture
def speech_url(http_server: LoopbackServer, make_media: Any) -> str:
    shutil.copy(make_media("speech.m4a"), http_server.root / "speech.m4a")
    return http_server.url("speech.m4a")


@pytest.fixture
def long_url(http_server: LoopbackServer, media_dir: Path, speech_wav: Path) -> str:
    shutil.copy(make_long_speech(media_dir, speech_wav), http_server.root / "long.wav")
    return http_server.url("long.wav")


def claim(store: Any, source: str, **options: Any) -> JobRecord:
    """Submit ``source`` and claim it, as a worker would."""
    created, _ = store.create(new_job(source, **options))
    job: JobRecord | None = store.claim(worker="test-worker")
    assert job is not None and job.id == created.id and job.state == JobState.RUNNING
    return job


def finished(state: str) -> float:
    return REGISTRY.get_sample_value("tubesum_jobs_finished_total", {"state": state}) or 0.0


def assert_no_workdirs(settings: Settings) -> None:
    assert settings.work_dir is not None
    assert not settings.work_dir.exists() or list(settings.work_dir.iterdir()) == []


def test_job_over_a_loopback_url_succeeds_with_an_artifact_per_format(
    store: RecordingStore, web: Settings, speech_url: str
) -> None:
    before = finished("succeeded")
    job = claim(store, speech_url, formats=("txt", "srt", "json"))
    run_job(job, store=store, settings=web)

    done = store.get(job.id)
    assert done is not None and done.state == JobState.SUCCEEDED, done
    assert sorted(done.formats) == ["json", "srt", "txt"]
    assert done.audio_seconds is not None and done.audio_seconds > 3
    assert done.title and "transcript" in done.checkpoint
    txt = store.artifact(job.id, "txt")
    assert txt is not None and txt.filename.endswith(".txt") and txt.content_type.startswith("text/plain")
    assert word_overlap(SPEECH_WORDS, txt.data.decode()) >= 0.6, txt.data
    srt = store.artifact(job.id, "srt")
    assert srt is not None and b" --> " in srt.data
    doc = json.loads(store.artifact(job.id, "json").data)
    assert doc["origin"] == "whisper" and doc["source"]["url"] == speech_url
    assert store.artifact(job.id, "vtt") is None
    assert {"download", "decode", "load_model", "transcribe", "render"} <= set(store.stages(job.id))
    assert store.progress[-1] == (job.id, "render", 1.0)
    assert finished("succeeded") == before + 1
    assert_no_workdirs(web)


def test_resume_from_the_transcript_checkpoint_skips_the_pipeline(
    store: RecordingStore, web: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pipeline(*args: Any, **kwargs: Any) -> Transcript:
        raise AssertionError("the pipeline must not run again when a transcript checkpoint exists")

    monkeypatch.setattr(service, "transcribe_source", no_pipeline)
    url = "http://127.0.0.1:9/talk.m4a"  # never fetched
    job = claim(store, url, formats=("txt", "md"))
    saved = saved_transcript(url, text="Hello from the checkpoint.", title="Saved talk", duration=2.5)
    store.save_checkpoint(
        job.id,
        "transcript",
        saved.to_dict(),
    )
    resumed = store.get(job.id)
    assert resumed is not None
    run_job(resumed, store=store, settings=web)

    done = store.get(job.id)
    assert done is not None and done.state == JobState.SUCCEEDED, done
    txt = store.artifact(job.id, "txt")
    assert txt is not None and txt.filename == "Saved-talk.txt"
    assert b"Hello from the checkpoint." in txt.data
    assert store.artifact(job.id, "md") is not None
    assert done.audio_seconds == 2.5 and done.title == "Saved talk"


def test_transient_network_error_retries_with_backoff_then_fails(store: RecordingStore, web: Settings) -> None:
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = web.model_copy(update={"job_retries": 2, "retry_backoff": 10.0})
    created, _ = store.create(new_job(f"http://127.0.0.1:{port}/a.m4a"))
    clock = created.created_at
    for attempt, delay in ((1, 10), (2, 20)):
        job = store.claim(worker="w", now=clock)
        assert job is not None and job.attempts == attempt
        started = datetime.now(UTC)
        run_job(job, store=store, settings=settings)
        ended = datetime.now(UTC)
        queued = store.get(job.id)
        assert queued is not None and queued.state == JobState.QUEUED and queued.error_code == "network", queued
        assert queued.not_before is not None
        assert started + timedelta(seconds=delay) <= queued.not_before <= ended + timedelta(seconds=delay)
        assert store.claim(worker="w", now=queued.not_before - timedelta(seconds=1)) is None, "claimed before backoff"
        clock = queued.not_before + timedelta(seconds=1)
    before = finished("failed")
    last = store.claim(worker="w", now=clock)
    assert last is not None and last.attempts == 3
    run_job(last, store=store, settings=settings)
    failed = store.get(last.id)
    assert failed is not None and failed.state == JobState.FAILED and failed.error_code == "network", failed
    assert finished("failed") == before + 1


def test_permanent_error_fails_at_once(store: RecordingStore, web: Settings, http_server: LoopbackServer) -> None:
    job = claim(store, http_server.url("gone.m4a"))
    run_job(job, store=store, settings=web)
    failed = store.get(job.id)
    assert failed is not None and failed.state == JobState.FAILED, failed
    assert failed.error_code == "video_unavailable" and failed.attempts == 1
    assert failed.error_message and "Traceback" not in failed.error_message
    assert_no_workdirs(web)


def test_cancel_through_the_store_stops_a_transcribing_job(store: RecordingStore, web: Settings, long_url: str) -> None:
    settings = web.model_copy(update={"vad_filter": False})  # a segment every few tenths of a second
    job = claim(store, long_url, formats=("txt",))
    worker = threading.Thread(target=run_job, args=(job,), kwargs={"store": store, "settings": settings})
    worker.start()
    try:
        wait_for(lambda: "transcribe" in store.stages(job.id), what="transcription to start")
        assert store.cancel(job.id) is not None
    finally:
        worker.join(60)
    assert not worker.is_alive()
    cancelled = store.get(job.id)
    assert cancelled is not None and cancelled.state == JobState.CANCELLED, cancelled
    assert store.artifact(job.id, "txt") is None and "transcript" not in cancelled.checkpoint
    assert (job.id, "transcribe", 1.0) not in store.progress, "stopped mid-way, not at the end"
    assert_no_workdirs(web)


def test_a_job_past_its_timeout_fails_with_job_timeout(store: RecordingStore, web: Settings, long_url: str) -> None:
    # job_timeout_seconds=1: the long speech takes longer than that to fetch, decode and transcribe here
    settings = web.model_copy(update={"vad_filter": False, "job_timeout_seconds": 1})
    job = claim(store, long_url, formats=("txt",))
    before = finished("failed")
    run_job(job, store=store, settings=settings)
    failed = store.get(job.id)
    assert failed is not None and failed.state == JobState.FAILED, failed
    assert failed.error_code == "job_timeout" and "1 s" in (failed.error_message or "")
    assert store.artifact(job.id, "txt") is None
    assert finished("failed") == before + 1
    assert_no_workdirs(web)


def test_progress_deadline_uses_the_clock() -> None:
    now = [100.0]
    progress = JobProgress(MemoryJobStore(), "j", timeout=5, clock=lambda: now[0])
    progress.check()
    now[0] = 105.5
    with pytest.raises(JobCancelled) as raised:
        progress.check()
    assert raised.value.reason == "timeout"
    JobProgress(MemoryJobStore(), "j", clock=lambda: 1e12).check()  # no timeout: never


def test_shutdown_leaves_the_job_running_for_the_executor_to_requeue(store: RecordingStore, web: Settings) -> None:
    job = claim(store, "http://127.0.0.1:9/talk.m4a")
    event = CancelEvent()
    event.cancel("shutdown")
    event.cancel("cancelled")  # the first reason wins
    run_job(job, store=store, settings=web, cancel=event)
    still = store.get(job.id)
    assert still is not None and still.state == JobState.RUNNING


def test_cancel_event_marks_the_job_cancelled(store: RecordingStore, web: Settings) -> None:
    job = claim(store, "http://127.0.0.1:9/talk.m4a")
    event = threading.Event()
    event.set()
    run_job(job, store=store, settings=web, cancel=event)
    cancelled = store.get(job.id)
    assert cancelled is not None and cancelled.state == JobState.CANCELLED


def test_local_files_are_refused_for_server_jobs(store: RecordingStore, web: Settings, speech_wav: Path) -> None:
    job = claim(store, str(speech_wav))
    run_job(job, store=store, settings=web)
    failed = store.get(job.id)
    assert failed is not None and failed.state == JobState.FAILED and failed.error_code == "invalid_url"
    assert failed.error_message == "Only URLs can be submitted to the server."  # the path is never looked at


def test_summarize_option_adds_a_summary_to_the_json_result(
    store: RecordingStore, web: Settings, speech_url: str
) -> None:
    job = claim(store, speech_url, summarize=True, formats=("json", "md"))
    run_job(job, store=store, settings=web.model_copy(update={"summary_backend": "extractive"}))
    done = store.get(job.id)
    assert done is not None and done.state == JobState.SUCCEEDED, done
    artifact = store.artifact(job.id, "json")
    assert artifact is not None
    summary = json.loads(artifact.data)["summary"]
    assert summary["method"] == "extractive" and summary["key_points"]


def test_diarize_without_the_extra_fails_with_missing_extra(
    store: RecordingStore, web: Settings, speech_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.startswith("pyannote") else real(name, *a)
    )

    def no_pyannote(*_args: Any, **_kwargs: Any) -> Any:
        from tubesum.diarize.resolve import check_available

        check_available(web)

    monkeypatch.setattr("tubesum.diarize.pyannote_backend.Diarizer.from_settings", no_pyannote)
    job = claim(store, speech_url, diarize=True)
    run_job(job, store=store, settings=web)
    failed = store.get(job.id)
    assert failed is not None and failed.state == JobState.FAILED and failed.error_code == "missing_extra"
    assert "diarize" in (failed.error_message or "")


def test_job_options_reach_the_pipeline(store: RecordingStore, web: Settings, speech_url: str) -> None:
    job = claim(store, speech_url, model="no-such-model")
    run_job(job, store=store, settings=web)
    failed = store.get(job.id)
    assert failed is not None and failed.state == JobState.FAILED and failed.error_code == "model_not_found", failed


def test_unexpected_errors_fail_as_internal_error_and_log_the_traceback(
    store: RecordingStore, web: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Transcript:
        raise RuntimeError("password=hunter2 in a driver message")

    monkeypatch.setattr(service, "transcribe_source", broken)
    job = claim(store, "http://127.0.0.1:9/talk.m4a")
    with caplog.at_level(logging.ERROR, logger="tubesum.jobs.runner"):
        run_job(job, store=store, settings=web)
    failed = store.get(job.id)
    assert failed is not None and failed.error_code == "internal_error"
    assert failed.error_message == INTERNAL_ERROR_MESSAGE
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].job_id == job.id  # type: ignore[attr-defined]


def test_progress_writes_are_throttled_but_keep_stage_changes_and_the_end() -> None:
    store = RecordingStore(MemoryJobStore())
    created, _ = store.create(new_job("http://127.0.0.1:9/a"))
    assert store.claim(worker="w") is not None
    now = [0.0]
    progress = JobProgress(store, created.id, clock=lambda: now[0])
    progress("download", 0, None)
    for done in range(1, 100):
        progress("download", done, 100)  # all at t=0: throttled
    now[0] = 0.3
    progress("download", 50, 100)
    progress("download", 100, 100)
    progress("download", 100, 100)  # the same 100% again is not written twice
    progress("transcribe", 0, 7)
    assert [(s, p) for _, s, p in store.progress] == [
        ("download", None),
        ("download", 0.5),
        ("download", 1.0),
        ("transcribe", 0.0),
    ]
    assert progress.durations == {"download": 0.3}


def test_progress_raises_job_cancelled_when_the_store_says_so() -> None:
    store = MemoryJobStore()
    created, _ = store.create(new_job("http://127.0.0.1:9/a"))
    assert store.claim(worker="w") is not None
    progress = JobProgress(store, created.id)
    progress("decode", 0, 1)
    store.cancel(created.id)
    with pytest.raises(JobCancelled) as excinfo:
        progress("transcribe", 0, 1)
    assert excinfo.value.reason == "cancelled"
    event = CancelEvent()
    event.cancel("shutdown")
    with pytest.raises(JobCancelled) as excinfo:
        JobProgress(store, created.id, cancel=event)("decode", 0, 1)
    assert excinfo.value.reason == "shutdown"
