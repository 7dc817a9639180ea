"""The job domain shared by the store, the executors and the API: states, options, read models, the store contract.

A job moves ``queued → running → succeeded | failed | cancelled``; a running job whose worker died goes back to
``queued`` (its checkpoint kept). Everything here is plain data: no SQLAlchemy, no HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tubesum.config import OutputFormat

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.metrics import QueueStats
    from tubesum.records import Rendered

__all__ = [
    "RESULT_FORMAT_VERSION",
    "ApiKeyRecord",
    "Executor",
    "JobOptions",
    "JobRecord",
    "JobState",
    "JobStore",
    "KeyStore",
    "NewJob",
    "Page",
    "WebhookDelivery",
    "cache_key",
]

# Bump when the stored transcript/result shape changes: older cached results are then not reused.
RESULT_FORMAT_VERSION = 1


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobOptions(BaseModel):
    """What a client may ask for; unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(None, max_length=200, description="Whisper model name or repo id; default: server's.")
    language: str | None = Field(None, max_length=16, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
    formats: tuple[OutputFormat, ...] = Field(("txt", "srt", "vtt", "json", "md"), min_length=1, max_length=6)
    word_timestamps: bool = False
    captions: Literal["auto", "only", "never"] = "auto"
    diarize: bool = False
    num_speakers: int | None = Field(None, ge=1, le=50, description="Exact number of speakers, when known.")
    summarize: bool = False

    @field_validator("formats")
    @classmethod
    def _distinct_formats(cls, value: tuple[OutputFormat, ...]) -> tuple[OutputFormat, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each format may be listed once")
        return value

    def effective(self, settings: Settings) -> Settings:
        """Return ``settings`` with these options applied, as the service layer validates any override."""
        from tubesum.service import TranscribeOptions

        return TranscribeOptions(**self.model_dump()).effective(settings)


@dataclass(frozen=True, slots=True)
class NewJob:
    """A validated submission, ready to store."""

    owner: str  # api key id, or "anonymous" when auth is disabled
    source: str  # what the client sent (URL)
    source_key: str  # identity of the media for the cache: "youtube:<id>", "url:<normalised url>", "sha256:<hex>"
    options: JobOptions
    cache_key: str
    idempotency_key: str | None = None
    callback_url: str | None = None  # POSTed the finished job (webhook); never part of the cache key


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as the API and executors see it."""

    id: str
    owner: str
    state: JobState
    source: str
    source_key: str
    options: JobOptions
    cache_key: str
    created_at: datetime
    updated_at: datetime
    stage: str | None = None
    progress: float | None = None  # 0..1 within the current stage, None when unknown
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cache_hit: bool = False
    audio_seconds: float | None = None
    title: str | None = None
    checkpoint: dict[str, Any] = field(default_factory=dict)  # stage name -> JSON-ready record
    cancel_requested: bool = False
    not_before: datetime | None = None  # retry backoff: not claimed before this time
    idempotency_key: str | None = None
    formats: tuple[str, ...] = ()  # formats stored as artifacts
    callback_url: str | None = None
    webhook_state: str | None = None  # pending | delivered | failed; None when the job has no callback_url
    webhook_attempts: int = 0


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One attempt to POST a finished job to its ``callback_url``: the HTTP status, or why there was none."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[JobRecord]
    total: int
    limit: int
    offset: int


def cache_key(source_key: str, options: JobOptions, *, model_identity: str) -> str:
    """Return the key under which a finished result can be reused.

    Only result-shaping options count (model and its identity/revision, language, word timestamps, captions
    mode, diarize, summarize) plus RESULT_FORMAT_VERSION; output formats do not (any format renders from the
    stored transcript).
    """
    shaping = {
        "v": RESULT_FORMAT_VERSION,
        "source": source_key,
        "model": model_identity,
        "language": options.language,
        "word_timestamps": options.word_timestamps,
        "captions": options.captions,
        "diarize": options.diarize,
        "num_speakers": options.num_speakers,
        "summarize": options.summarize,
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


@runtime_checkable  # Litestar checks injected dependencies against their declared type
class JobStore(Protocol):
    """Durable job storage. Every method is one transaction; all are safe to call from several threads."""

    # -- submit / read ------------------------------------------------------------------------------------
    def create(self, new: NewJob) -> tuple[JobRecord, bool]:
        """Insert a queued job; with an idempotency key already used by this owner, return that job instead.

        Returns ``(job, created)``.
        """
        ...

    def create_from_cache(self, new: NewJob) -> JobRecord | None:
        """If a succeeded job with ``new.cache_key`` exists, insert a new *succeeded* job for ``new.owner`` with a
        copy of its checkpoint and artifacts and ``cache_hit=True``; else return None."""
        ...

    def get(self, job_id: str, *, checkpoint: bool = True) -> JobRecord | None:
        """Return the job; ``checkpoint=False`` may leave ``checkpoint`` empty (status reads)."""
        ...

    def list(self, *, owner: str | None, state: JobState | None = None, limit: int = 20, offset: int = 0) -> Page:
        """Newest first; ``owner=None`` lists every owner's jobs (admin/CLI only)."""
        ...

    # -- worker side --------------------------------------------------------------------------------------
    def claim(self, *, worker: str, now: datetime | None = None) -> JobRecord | None:
        """Atomically move the oldest claimable queued job (not_before passed) to running; None if none."""
        ...

    def identical_work(self, job: JobRecord) -> JobRecord | None:
        """Single flight: the newest succeeded job with ``job.cache_key`` (with its checkpoint), else the
        earliest-started running one that started before ``job``; None when ``job`` must run the pipeline."""
        ...

    def update_progress(self, job_id: str, *, stage: str, progress: float | None) -> bool:
        """Record progress; returns False when the job was cancelled meanwhile (the worker should stop)."""
        ...

    def save_checkpoint(self, job_id: str, stage: str, record: dict[str, Any]) -> None: ...

    def succeed(
        self, job_id: str, *, artifacts: Sequence[Rendered], audio_seconds: float | None, title: str | None
    ) -> None:
        """Store artifacts and mark succeeded in one transaction (a crash leaves either all or nothing)."""
        ...

    def fail(self, job_id: str, *, code: str, message: str) -> None: ...

    def retry_later(self, job_id: str, *, not_before: datetime, code: str, message: str) -> None:
        """Back to queued after a transient failure, attempts kept, claimable again after ``not_before``."""
        ...

    def requeue_running(
        self, *, worker: str | None = None, job_id: str | None = None, max_attempts: int | None = None
    ) -> int:
        """Put running jobs (of ``worker``, or all; only ``job_id`` when given) back to queued — start-up
        recovery, graceful shutdown. With ``max_attempts`` a job that already had that many attempts fails with
        ``worker_lost`` instead; a job whose cancel was requested is cancelled."""
        ...

    # -- client actions -----------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobRecord | None:
        """Queued → cancelled at once; running → cancel_requested (the worker stops at the next progress call)."""
        ...

    def mark_cancelled(self, job_id: str) -> None: ...

    def delete(self, job_id: str) -> bool:
        """Delete a finished job and its artifacts; False when it is not finished or does not exist."""
        ...

    def artifact(self, job_id: str, fmt: str) -> Rendered | None: ...

    # -- housekeeping and metrics -------------------------------------------------------------------------
    def purge_finished_before(self, cutoff: datetime) -> int: ...

    def count_by_state(self) -> dict[JobState, int]: ...

    def active_jobs(self, owner: str) -> int:
        """Queued + running jobs of one owner (concurrency quota)."""
        ...

    def audio_seconds_since(self, owner: str, since: datetime) -> float:
        """Audio seconds of the owner's jobs created since ``since`` (daily quota)."""
        ...

    def ping(self, *, write: bool = False) -> None:
        """Raise if the database cannot be reached (readiness); with ``write``, also if it cannot be written."""
        ...

    def deliveries(self, job_id: str) -> Sequence[WebhookDelivery]:
        """The webhook delivery attempts of a job, oldest first (none without a ``callback_url``)."""
        ...


@runtime_checkable  # Litestar checks injected dependencies against their declared type
class KeyStore(Protocol):
    """API keys: the plaintext is returned once by ``create`` and stored only as a hash."""

    def create_key(self, name: str) -> tuple[ApiKeyRecord, str]:
        """Return the record and the plaintext key (``tsk_<id>_<secret>``), shown to the user once."""
        ...

    def verify_key(self, token: str) -> ApiKeyRecord | None:
        """Return the active key for ``token`` (constant-time hash compare), None when unknown or revoked."""
        ...

    def recently_verified(self, token: str) -> ApiKeyRecord | None:
        """Return the key if ``verify_key`` accepted ``token`` moments ago (no I/O: the hot path of every request).

        Revocation through this object clears it at once; other processes' revocations apply within a few seconds.
        """
        ...

    def revoke_key(self, key_id: str) -> bool: ...

    def list_keys(self) -> list[ApiKeyRecord]: ...


@runtime_checkable  # Litestar checks injected dependencies against their declared type
class Executor(Protocol):
    """What runs queued jobs, as the API sees it: :class:`~tubesum.jobs.executor.LocalExecutor` (worker threads
    in this process) or :class:`~tubesum.jobs.saq_executor.SaqExecutor` (this process dispatches to SAQ
    workers). The store stays the source of truth; the executor only runs, wakes and cancels.
    """

    @property
    def alive(self) -> bool:
        """True while it can run (or dispatch) jobs: readiness's ``worker`` check."""
        ...

    def start(self) -> None:
        """Start running jobs (idempotent)."""
        ...

    def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs; give running ones ``grace`` seconds (default: the shutdown grace setting)."""
        ...

    def notify(self) -> None:
        """Wake up: a job was queued."""
        ...

    def cancel(self, job_id: str) -> bool:
        """Stop the job if it runs here; whether it did (the store already records the cancellation)."""
        ...

    def running_jobs(self) -> list[str]:
        """Ids of the jobs running now."""
        ...

    def queue_stats(self) -> list[QueueStats]:
        """Jobs and live workers per queue, for ``/metrics``."""
        ...

    def queue_ok(self) -> tuple[bool, str] | None:
        """Readiness of a queue server (ok, detail); None when there is none (the store is the queue)."""
        ...
