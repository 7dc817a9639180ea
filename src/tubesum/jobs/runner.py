"""Run one claimed job: transcript (or its checkpoint) → rendered artifacts → stored result.

An executor claims a job from the store and calls :func:`run_job` on a worker thread::

    job = store.claim(worker="host:1234")
    if job is not None:
        run_job(job, store=store, settings=settings, cancel=CancelEvent())

Two stages, each checkpointed or committed in the store, so a retry resumes where the last attempt stopped:

* ``transcript`` - ``job.checkpoint["transcript"]`` when an earlier attempt got that far, else the transcript
  of an identical job (same cache key: single flight, waiting while an earlier one runs), else the pipeline
  (:func:`tubesum.service.transcribe_source`); the result is saved as the checkpoint.
* ``render`` - every requested format rendered in memory and stored with the final state in one transaction.

Cancellation is cooperative: every progress call (and every stage boundary) checks the ``cancel`` event and
the store's cancel flag, and raises :class:`JobCancelled`, which unwinds the pipeline (removing its temporary
directory). A :class:`CancelEvent` set with reason ``"shutdown"`` leaves the job ``running`` for the executor
to put back in the queue; any other cancellation marks it ``cancelled``. With ``settings.job_timeout_seconds``
a progress call after the deadline fails the attempt with ``job_timeout``.

Checkpoint and outcome writes are retried with a doubling delay (a database restart, a lock held for a while);
when they still fail, :class:`OutcomeNotRecorded` tells the executor to put the job back in the queue, where a
later attempt resumes from whatever checkpoint was written.
"""

from __future__ import annotations

import functools
import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from structlog.contextvars import bound_contextvars

from tubesum import metrics, service
from tubesum.errors import JobTimeoutError, TubesumError
from tubesum.jobs.types import JobState
from tubesum.jobs.webhooks import wake_all
from tubesum.live import LIVE
from tubesum.records import Rendered, Segment, Transcript
from tubesum.redact import scrub_paths

if TYPE_CHECKING:
    from tubesum.config import OutputFormat, Settings
    from tubesum.jobs.types import JobRecord, JobStore

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "STORE_RETRY_SECONDS",
    "CancelEvent",
    "CancelReason",
    "JobCancelled",
    "JobProgress",
    "OutcomeNotRecorded",
    "run_job",
]

logger = logging.getLogger(__name__)

CancelReason = Literal["cancelled", "shutdown", "timeout"]

INTERNAL_ERROR_MESSAGE = "Internal error; see the server log."
MAX_RETRY_DELAY = 3600.0  # seconds: the doubling backoff stops growing here
PROGRESS_INTERVAL = 0.25  # seconds between two progress writes of one stage (at most ~4 per second)
FOLLOW_POLL = 0.5  # seconds between two looks at the identical job this one waits for
STORE_RETRY_SECONDS = 60.0  # seconds a checkpoint or outcome write is retried before the attempt gives up
_STORE_RETRY_FIRST = 0.25  # seconds before the first retry of a failed store write; doubles up to the cap below
_STORE_RETRY_CAP = 8.0


class OutcomeNotRecorded(Exception):
    """A checkpoint or outcome write still failed after ``STORE_RETRY_SECONDS`` of retries (database down,
    locked or full). The job is still ``running`` in the store: the executor must put it back in the queue.

    Not a :class:`~tubesum.errors.TubesumError`: the job did not fail, its bookkeeping did.
    """

    def __init__(self, job_id: str, what: str) -> None:
        super().__init__(f"could not record the {what} of job {job_id}")
        self.job_id = job_id
        self.what = what


class JobCancelled(Exception):
    """Raised at a progress call when the job must stop; ``reason`` says whether to cancel or requeue it.

    Deliberately not a :class:`~tubesum.errors.TubesumError` (it is no failure) nor a ``RuntimeError`` /
    ``ValueError`` (which the pipeline would wrap in its own errors).
    """

    def __init__(self, reason: CancelReason = "cancelled") -> None:
        super().__init__(f"job stopped: {reason}")
        self.reason: CancelReason = reason


class CancelEvent(threading.Event):
    """A cancel flag that remembers why it was set; the first reason wins."""

    def __init__(self) -> None:
        super().__init__()
        self.reason: CancelReason = "cancelled"
        self._reason_lock = threading.Lock()

    def cancel(self, reason: CancelReason = "cancelled") -> None:
        """Ask the job to stop at its next progress call."""
        with self._reason_lock:
            if not self.is_set():
                self.reason = reason
                self.set()


class JobProgress:
    """The :class:`~tubesum.progress.ProgressFn` of one job: throttled store writes, stage timings, cancellation.

    Each call is a cancellation point. The store is written on every stage change, on the first 100% of a
    stage, and otherwise at most once per ``min_interval`` seconds; a write that returns False (the job was
    cancelled through the store, maybe by another process) raises :class:`JobCancelled`; a write that fails
    (database unreachable) is logged and skipped.
    """

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        *,
        cancel: threading.Event | None = None,
        min_interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 0.0,
    ) -> None:
        self._store = store
        self._deadline = clock() + timeout if timeout > 0 else math.inf
        self._job_id = job_id
        self._cancel = cancel
        self._min_interval = min_interval
        self._clock = clock
        self._stage: str | None = None
        self._stage_started = 0.0
        self._last_write = -math.inf
        self._last_written: tuple[str, float | None] | None = None
        self.durations: dict[str, float] = {}  # wall seconds spent in each stage so far

    def __call__(self, stage: str, done: float, total: float | None = None, /) -> None:
        self.check()
        now = self._clock()
        changed = stage != self._stage
        if changed:
            self.end_stage(now=now)
            self._stage, self._stage_started = stage, now
        fraction = _fraction(done, total)
        due = changed or fraction == 1.0 or now - self._last_write >= self._min_interval
        if not due or self._last_written == (stage, fraction):
            return
        self._last_write, self._last_written = now, (stage, fraction)
        try:
            running = self._store.update_progress(self._job_id, stage=stage, progress=fraction)
        except Exception:  # progress is best effort: a database blip must not fail the job (the outcome is retried)
            logger.warning("could not record progress", exc_info=True, extra={"job_id": self._job_id})
            return
        if not running:
            raise JobCancelled("cancelled")

    def segment(self, segment: Segment, /) -> None:
        """Pass a decoded segment to this process's live transcript of the job (:mod:`tubesum.live`)."""
        LIVE.add(self._job_id, segment)

    def check(self) -> None:
        """Raise :class:`JobCancelled` when the cancel event is set or the deadline has passed."""
        if self._cancel is not None and self._cancel.is_set():
            raise JobCancelled(getattr(self._cancel, "reason", "cancelled"))
        if self._clock() > self._deadline:
            raise JobCancelled("timeout")

    def end_stage(self, *, now: float | None = None) -> None:
        """Close the current stage's timing (recorded in ``durations`` and the stage histogram)."""
        if self._stage is None:
            return
        seconds = max(0.0, (self._clock() if now is None else now) - self._stage_started)
        self.durations[self._stage] = self.durations.get(self._stage, 0.0) + seconds
        metrics.STAGE_SECONDS.labels(stage=self._stage).observe(seconds)
        self._stage = None


def run_job(
    job: JobRecord,
    *,
    store: JobStore,
    settings: Settings,
    cancel: threading.Event | None = None,
    store_retry_s: float = STORE_RETRY_SECONDS,
) -> None:
    """Execute one claimed (running) job and record its outcome in ``store``; never raises for job errors.

    **Parameters:**

    * **job** - the record :meth:`JobStore.claim` returned.
    * **settings** - server settings; the job's options override model, language, word timestamps, captions
      mode and formats.
    * **cancel** *(optional)* - set it to stop the job at its next progress call; a :class:`CancelEvent` with
      reason ``"shutdown"`` leaves the job running for the caller to requeue.
    * **store_retry_s** *(optional)* - how long checkpoint and outcome writes are retried, with a doubling
      delay, before :class:`OutcomeNotRecorded` is raised (the job is then still running in the store).

    Outcomes: ``succeeded`` with one artifact per format; a transient error (network, rate limit) goes back to
    the queue with a doubling delay while ``job.attempts <= settings.job_retries``; other tubesum errors fail
    with their code and message; unexpected exceptions fail as ``internal_error`` (the traceback goes to the
    log only). ``KeyboardInterrupt``, ``SystemExit`` and :class:`OutcomeNotRecorded` propagate.
    """
    extra = {"job_id": job.id}
    store = cast("JobStore", _RetryingWrites(store, job.id, budget=store_retry_s))
    progress = JobProgress(store, job.id, cancel=cancel, timeout=settings.job_timeout_seconds)
    LIVE.open(job.id)  # live transcript: the segments of this attempt, as they are decoded
    with bound_contextvars(job_id=job.id):
        logger.info("job started", extra={**extra, "attempt": job.attempts})
        try:
            _execute(job, store=store, settings=settings, progress=progress)
        except JobCancelled as exc:
            progress.end_stage()
            if exc.reason == "shutdown":
                logger.info("job interrupted by shutdown; it goes back to the queue", extra=extra)
                return
            if exc.reason == "timeout":  # a permanent error like any other: fails with its code
                error = JobTimeoutError(f"The job ran longer than {settings.job_timeout_seconds} s and was stopped.")
                _fail_or_retry(job, error, store=store, settings=settings)
                return
            store.mark_cancelled(job.id)
            _finished(JobState.CANCELLED)
            logger.info("job cancelled", extra=extra)
        except TubesumError as exc:
            progress.end_stage()
            _fail_or_retry(job, exc, store=store, settings=settings)
        except OutcomeNotRecorded:
            progress.end_stage()
            raise
        except Exception:
            progress.end_stage()
            logger.exception("job failed with an unexpected error", extra=extra)
            store.fail(job.id, code="internal_error", message=INTERNAL_ERROR_MESSAGE)
            _finished(JobState.FAILED)
        finally:
            LIVE.close(job.id)


def _execute(job: JobRecord, *, store: JobStore, settings: Settings, progress: JobProgress) -> None:
    if job.cancel_requested:
        raise JobCancelled("cancelled")
    effective = job.options.effective(settings)
    progress.check()
    transcript = _transcript_stage(job, store=store, settings=effective, progress=progress)
    layout = service.SubtitleLayout.from_settings(effective)
    artifacts = _render_stage(transcript, formats=effective.formats, layout=layout, progress=progress)
    store.succeed(job.id, artifacts=artifacts, audio_seconds=transcript.duration, title=transcript.title)
    _finished(JobState.SUCCEEDED)
    logger.info(
        "job succeeded",
        extra={"job_id": job.id, "formats": [a.format for a in artifacts], "audio_seconds": transcript.duration},
    )


def _transcript_stage(job: JobRecord, *, store: JobStore, settings: Settings, progress: JobProgress) -> Transcript:
    """Return the checkpointed transcript, or run the pipeline and checkpoint its result."""
    saved = job.checkpoint.get("transcript")
    if saved is not None:
        logger.info("resuming from the transcript checkpoint", extra={"job_id": job.id})
        return Transcript.from_dict(saved)
    # The rules of submission, checked again now: a remote client must never make the server read its own
    # files; an upload resolves only inside the upload directory, for the job's owner.
    source = service.resolve_source(job.source, settings=settings, owner=job.owner, remote=True).source
    followed = _follow_identical_job(job, store=store, progress=progress)
    if followed is not None:
        store.save_checkpoint(job.id, "transcript", followed.to_dict())
        return followed
    started = time.perf_counter()
    transcript = service.shareable(service.transcribe_source(source, settings=settings, progress=progress))
    progress.end_stage()
    store.save_checkpoint(job.id, "transcript", transcript.to_dict())
    _record_audio(transcript, progress=progress, pipeline_seconds=time.perf_counter() - started)
    return transcript


def _follow_identical_job(job: JobRecord, *, store: JobStore, progress: JobProgress) -> Transcript | None:
    """Single flight: take the transcript of an identical job (same cache key) instead of running the pipeline.

    A succeeded one gives its transcript at once. While an identical job that started earlier runs, wait for it
    (stage ``follow``, a cancellation point every ``FOLLOW_POLL`` seconds); when it fails or is cancelled, the
    next one leads, or this job runs the pipeline itself. Returns None when this job leads.
    """
    if not job.cache_key:
        return None
    while True:
        other = store.identical_work(job)
        if other is None:
            return None
        if other.state == JobState.SUCCEEDED:
            saved = other.checkpoint.get("transcript")
            if saved is None:  # an older result without a checkpoint: nothing to take
                return None
            logger.info("took the transcript of an identical job", extra={"job_id": job.id, "from_job": other.id})
            return Transcript.from_dict(saved)
        progress("follow", 0, None)
        time.sleep(FOLLOW_POLL)


def _render_stage(
    transcript: Transcript,
    *,
    formats: tuple[OutputFormat, ...],
    layout: service.SubtitleLayout,
    progress: JobProgress,
) -> list[Rendered]:
    """Render each distinct format in memory (a cancellation point between formats), subtitles cut to ``layout``."""
    artifacts = list(service.render(transcript, formats, progress=progress, layout=layout).values())
    progress.end_stage()
    return artifacts


def _public_message(exc: TubesumError, settings: Settings) -> str:
    """The error message as API clients see it: no server directory in it (the log keeps the original)."""
    roots = (settings.data_dir, settings.work_dir, settings.model_cache_dir, tempfile.gettempdir(), Path.home())
    return scrub_paths(exc.message, roots)


def _fail_or_retry(job: JobRecord, exc: TubesumError, *, store: JobStore, settings: Settings) -> None:
    extra = {"job_id": job.id, "code": exc.code, "attempt": job.attempts}
    message = _public_message(exc, settings)
    if exc.transient and job.attempts <= settings.job_retries:
        delay = min(settings.retry_backoff * 2 ** (max(job.attempts, 1) - 1), MAX_RETRY_DELAY)
        not_before = datetime.now(UTC) + timedelta(seconds=delay)
        store.retry_later(job.id, not_before=not_before, code=exc.code, message=message)
        logger.warning("job hit a transient error; retrying later", extra={**extra, "delay_s": delay})
        return
    store.fail(job.id, code=exc.code, message=message)
    _finished(JobState.FAILED)
    logger.warning("job failed", extra={**extra, "error": exc.message})


class _RetryingWrites:
    """A view of a store whose checkpoint and outcome writes are retried with a doubling delay for ``budget``
    seconds, then raise :class:`OutcomeNotRecorded`; every other method goes straight through.

    The wrapped writes are idempotent (a checkpoint replaces its stage, ``succeed`` replaces the artifacts,
    ``fail`` leaves a finished job alone), so a write that committed but reported an error is safe to repeat.
    """

    _RETRIED = frozenset({"save_checkpoint", "succeed", "fail", "retry_later", "mark_cancelled"})

    def __init__(self, inner: JobStore, job_id: str, *, budget: float) -> None:
        self._inner = inner
        self._job_id = job_id
        self._budget = budget

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._RETRIED:
            return attr
        return functools.partial(self._retry, attr, name)

    def _retry(self, write: Callable[..., None], name: str, *args: Any, **kwargs: Any) -> None:
        deadline = time.monotonic() + self._budget
        delay = _STORE_RETRY_FIRST
        while True:
            try:
                write(*args, **kwargs)
                return
            except Exception as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.error("giving up on a store write", extra={"job_id": self._job_id, "write": name})
                    raise OutcomeNotRecorded(self._job_id, name) from exc
                logger.warning(
                    "store write failed; retrying",
                    exc_info=True,
                    extra={"job_id": self._job_id, "write": name, "retry_in_s": round(min(delay, left), 2)},
                )
                time.sleep(min(delay, left))
                delay = min(delay * 2, _STORE_RETRY_CAP)


def _record_audio(transcript: Transcript, *, progress: JobProgress, pipeline_seconds: float) -> None:
    duration = transcript.duration or transcript.info.duration
    if not duration:
        return
    metrics.AUDIO_SECONDS.labels(origin=transcript.origin).inc(duration)
    if transcript.origin == "whisper":
        seconds = progress.durations.get("transcribe") or pipeline_seconds
        if seconds > 0:
            metrics.REALTIME_FACTOR.observe(duration / seconds)


def _finished(state: JobState) -> None:
    metrics.JOBS_FINISHED.labels(state=state.value).inc()
    wake_all()  # a webhook may be due now


def _fraction(done: float, total: float | None) -> float | None:
    if total is None or total <= 0:
        return None
    return min(1.0, max(0.0, done / total))
