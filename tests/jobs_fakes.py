"""Test doubles for the job queue: an in-memory JobStore, a recording wrapper, and a store factory.

``MemoryJobStore`` implements :class:`tubesum.jobs.types.JobStore` with a lock around a dict, for unit tests of
queue logic. Tests of the executor and runner also run against the real ``SqlJobStore`` on SQLite through
:func:`make_store`; that one is what matters.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tubesum.jobs.types import JobOptions, JobRecord, JobState, JobStore, NewJob, Page
from tubesum.records import MediaInfo, Rendered, Segment, Source, Transcript

__all__ = [
    "STORE_KINDS",
    "MemoryJobStore",
    "RecordingStore",
    "make_long_speech",
    "make_store",
    "new_job",
    "wait_for",
]

STORE_KINDS = ("memory", "sqlite")


def new_job(source: str, *, owner: str = "tester", **options: Any) -> NewJob:
    """Return a submission for ``source`` with ``options`` (JobOptions fields)."""
    return NewJob(
        owner=owner,
        source=source,
        source_key=f"url:{source}",
        options=JobOptions(**options),
        cache_key=uuid.uuid4().hex,
    )


def make_store(kind: str, tmp_path: Path) -> JobStore:
    """Return an empty store: ``memory`` (MemoryJobStore) or ``sqlite`` (SqlJobStore in ``tmp_path``)."""
    if kind == "memory":
        return MemoryJobStore()
    store_module = pytest.importorskip("tubesum.jobs.store", reason="SqlJobStore not written yet")
    from tubesum.jobs.db import make_engine
    from tubesum.jobs.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    store: JobStore = store_module.SqlJobStore(make_engine(url))
    return store


def _now() -> datetime:
    return datetime.now(UTC)


class MemoryJobStore:
    """A thread-safe, in-memory JobStore (one lock, records replaced as a whole)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._jobs: dict[str, JobRecord] = {}
        self._workers: dict[str, str | None] = {}
        self._artifacts: dict[str, dict[str, Rendered]] = {}
        self._seq = itertools.count()
        self._order: dict[str, int] = {}

    # -- helpers for tests ----------------------------------------------------------------------------------
    def set_finished_at(self, job_id: str, when: datetime) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], finished_at=when)

    def worker_of(self, job_id: str) -> str | None:
        with self._lock:
            return self._workers.get(job_id)

    def _put(self, job: JobRecord, **changes: Any) -> JobRecord:
        job = replace(job, updated_at=_now(), **changes)
        self._jobs[job.id] = job
        return job

    # -- submit / read --------------------------------------------------------------------------------------
    def create(self, new: NewJob) -> tuple[JobRecord, bool]:
        with self._lock:
            if new.idempotency_key is not None:
                for job in self._jobs.values():
                    if job.owner == new.owner and job.idempotency_key == new.idempotency_key:
                        return job, False
            now = _now()
            job = JobRecord(
                id=uuid.uuid4().hex,
                owner=new.owner,
                state=JobState.QUEUED,
                source=new.source,
                source_key=new.source_key,
                options=new.options,
                cache_key=new.cache_key,
                created_at=now,
                updated_at=now,
                idempotency_key=new.idempotency_key,
            )
            self._jobs[job.id] = job
            self._order[job.id] = next(self._seq)
            self._artifacts[job.id] = {}
            return job, True

    def create_from_cache(self, new: NewJob) -> JobRecord | None:
        with self._lock:
            hits = [j for j in self._jobs.values() if j.cache_key == new.cache_key and j.state == JobState.SUCCEEDED]
            if not hits:
                return None
            hit = max(hits, key=lambda j: self._order[j.id])
            job, _ = self.create(replace(new, idempotency_key=None))
            now = _now()
            job = self._put(
                job,
                state=JobState.SUCCEEDED,
                cache_hit=True,
                checkpoint=dict(hit.checkpoint),
                audio_seconds=hit.audio_seconds,
                title=hit.title,
                formats=hit.formats,
                started_at=now,
                finished_at=now,
                progress=1.0,
            )
            self._artifacts[job.id] = dict(self._artifacts[hit.id])
            return job

    def get(self, job_id: str, *, checkpoint: bool = True) -> JobRecord | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, *, owner: str | None, state: JobState | None = None, limit: int = 20, offset: int = 0) -> Page:
        with self._lock:
            jobs = [
                j
                for j in self._jobs.values()
                if (owner is None or j.owner == owner) and (state is None or j.state == state)
            ]
            jobs.sort(key=lambda j: self._order[j.id], reverse=True)
            return Page(items=jobs[offset : offset + limit], total=len(jobs), limit=limit, offset=offset)

    # -- worker side ----------------------------------------------------------------------------------------
    def claim(self, *, worker: str, now: datetime | None = None) -> JobRecord | None:
        now = now or _now()
        with self._lock:
            ready = [
                j
                for j in self._jobs.values()
                if j.state == JobState.QUEUED and (j.not_before is None or j.not_before <= now)
            ]
            if not ready:
                return None
            job = min(ready, key=lambda j: self._order[j.id])
            self._workers[job.id] = worker
            return self._put(
                job, state=JobState.RUNNING, attempts=job.attempts + 1, started_at=job.started_at or _now()
            )

    def identical_work(self, job: JobRecord) -> JobRecord | None:
        with self._lock:
            others = [j for j in self._jobs.values() if j.cache_key == job.cache_key and j.id != job.id]
            done = [j for j in others if j.state == JobState.SUCCEEDED]
            if done:
                return max(done, key=lambda j: j.finished_at or j.created_at)
            if job.started_at is None:
                return None
            running = [
                j
                for j in others
                if j.state == JobState.RUNNING
                and j.started_at is not None
                and (j.started_at, j.id) < (job.started_at, job.id)
            ]
            return min(running, key=lambda j: (j.started_at, j.id)) if running else None

    def update_progress(self, job_id: str, *, stage: str, progress: float | None) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state != JobState.RUNNING or job.cancel_requested:
                return False
            self._put(job, stage=stage, progress=progress)
            return True

    def save_checkpoint(self, job_id: str, stage: str, record: dict[str, Any]) -> None:
        with self._lock:
            job = self._jobs[job_id]
            self._put(job, checkpoint={**job.checkpoint, stage: record})

    def succeed(
        self, job_id: str, *, artifacts: Sequence[Rendered], audio_seconds: float | None, title: str | None
    ) -> None:
        with self._lock:
            job = self._jobs[job_id]
            self._artifacts[job_id] = {a.format: a for a in artifacts}
            self._workers[job_id] = None
            self._put(
                job,
                state=JobState.SUCCEEDED,
                audio_seconds=audio_seconds,
                title=title,
                formats=tuple(a.format for a in artifacts),
                finished_at=_now(),
                progress=1.0,
                error_code=None,
                error_message=None,
            )

    def fail(self, job_id: str, *, code: str, message: str) -> None:
        with self._lock:
            self._workers[job_id] = None
            self._put(
                self._jobs[job_id], state=JobState.FAILED, error_code=code, error_message=message, finished_at=_now()
            )

    def retry_later(self, job_id: str, *, not_before: datetime, code: str, message: str) -> None:
        with self._lock:
            self._workers[job_id] = None
            self._put(
                self._jobs[job_id], state=JobState.QUEUED, not_before=not_before, error_code=code, error_message=message
            )

    def requeue_running(
        self, *, worker: str | None = None, job_id: str | None = None, max_attempts: int | None = None
    ) -> int:
        with self._lock:
            count = 0
            for job in list(self._jobs.values()):
                if job.state != JobState.RUNNING or (worker is not None and self._workers.get(job.id) != worker):
                    continue
                if job_id is not None and job.id != job_id:
                    continue
                self._workers[job.id] = None
                if job.cancel_requested:
                    self._put(job, state=JobState.CANCELLED, finished_at=_now())
                elif max_attempts is not None and job.attempts >= max_attempts:
                    message = f"The job's worker stopped answering on each of its {job.attempts} attempts."
                    self._put(
                        job, state=JobState.FAILED, error_code="worker_lost", error_message=message, finished_at=_now()
                    )
                else:
                    self._put(job, state=JobState.QUEUED)
                count += 1
            return count

    # -- client actions -------------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobRecord | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.state == JobState.QUEUED:
                return self._put(job, state=JobState.CANCELLED, finished_at=_now())
            if job.state == JobState.RUNNING:
                return self._put(job, cancel_requested=True)
            return job

    def mark_cancelled(self, job_id: str) -> None:
        with self._lock:
            self._workers[job_id] = None
            self._put(self._jobs[job_id], state=JobState.CANCELLED, finished_at=_now())

    def delete(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.state.finished:
                return False
            self._drop(job_id)
            return True

    def _drop(self, job_id: str) -> None:
        del self._jobs[job_id]
        self._artifacts.pop(job_id, None)
        self._workers.pop(job_id, None)

    def artifact(self, job_id: str, fmt: str) -> Rendered | None:
        with self._lock:
            return self._artifacts.get(job_id, {}).get(fmt)

    # -- housekeeping and metrics ---------------------------------------------------------------------------
    def purge_finished_before(self, cutoff: datetime) -> int:
        with self._lock:
            old = [
                j.id
                for j in self._jobs.values()
                if j.state.finished and j.finished_at is not None and j.finished_at < cutoff
            ]
            for job_id in old:
                self._drop(job_id)
            return len(old)

    def count_by_state(self) -> dict[JobState, int]:
        with self._lock:
            counts = dict.fromkeys(JobState, 0)
            for job in self._jobs.values():
                counts[job.state] += 1
            return counts

    def active_jobs(self, owner: str) -> int:
        with self._lock:
            return sum(
                1 for j in self._jobs.values() if j.owner == owner and j.state in (JobState.QUEUED, JobState.RUNNING)
            )

    def audio_seconds_since(self, owner: str, since: datetime) -> float:
        with self._lock:
            return sum(
                j.audio_seconds or 0.0 for j in self._jobs.values() if j.owner == owner and j.created_at >= since
            )

    def ping(self, *, write: bool = False) -> None:
        return None

    def deliveries(self, job_id: str) -> list[Any]:
        return []  # no webhooks in memory


class RecordingStore:
    """Wrap a store and record the calls tests look at: claims, progress writes and final results."""

    def __init__(self, inner: JobStore) -> None:
        self.inner = inner
        self.progress: list[tuple[str, str, float | None]] = []
        self.succeeded: list[str] = []
        self.claims = 0
        self._lock = threading.Lock()

    def claim(self, *, worker: str, now: datetime | None = None) -> JobRecord | None:
        with self._lock:
            self.claims += 1
        return self.inner.claim(worker=worker, now=now)

    def update_progress(self, job_id: str, *, stage: str, progress: float | None) -> bool:
        with self._lock:
            self.progress.append((job_id, stage, progress))
        return self.inner.update_progress(job_id, stage=stage, progress=progress)

    def succeed(
        self, job_id: str, *, artifacts: Sequence[Rendered], audio_seconds: float | None, title: str | None
    ) -> None:
        with self._lock:
            self.succeeded.append(job_id)
        self.inner.succeed(job_id, artifacts=artifacts, audio_seconds=audio_seconds, title=title)

    def stages(self, job_id: str) -> list[str]:
        """Return the distinct stages written for ``job_id``, in order."""
        with self._lock:
            return list(dict.fromkeys(stage for jid, stage, _ in self.progress if jid == job_id))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def wait_for(predicate: Callable[[], object], *, timeout: float = 60.0, what: str = "the condition") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def make_long_speech(media_dir: Path, speech_wav: Path, *, repeats: int = 10) -> Path:
    """Return the sample speech padded to 27 s and played ``repeats`` times (4.5 min by default).

    With ``vad_filter=False`` Whisper reports a segment every few tenths of a second on it and needs several
    seconds in all: long enough to stop mid-way, short enough that stopping is quick.
    """
    out = media_dir / f"long-{repeats}.wav"
    if not out.exists():
        padded = media_dir / "speech-padded.wav"
        ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
        subprocess.run([*ffmpeg, "-i", str(speech_wav), "-af", "apad=whole_dur=27", str(padded)], check=True)
        subprocess.run([*ffmpeg, "-stream_loop", str(repeats - 1), "-i", str(padded), str(out)], check=True)
    return out


def saved_transcript(url: str, *, text: str, title: str, duration: float) -> Transcript:
    """Return a one-segment transcript as a crashed or retried job would have checkpointed it."""
    return Transcript(
        source=Source(kind="url", original=url, url=url),
        segments=(Segment(start=0.0, end=duration, text=text),),
        language="en",
        origin="whisper",
        info=MediaInfo(title=title),
        duration=duration,
    )
