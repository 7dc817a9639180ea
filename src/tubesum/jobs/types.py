"""The job domain shared by the store, the executors and the API: states, options, read models, the store contract.

A job moves ``queued → running → succeeded | failed | cancelled``; a running job whose worker died goes back to
``queued`` (its checkpoint kept). Everything here is plain data: no SQLAlchemy, no HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, Self, get_args, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from tubesum.config import Settings
from tubesum.errors import ConfigError
from tubesum.options import LOCAL_ONLY, VALIDATORS, RunOptions, resolve, result_shaping

if TYPE_CHECKING:
    from tubesum.metrics import QueueStats
    from tubesum.records import Rendered

__all__ = [
    "API_FIELDS",
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


#: The ``RunOptions`` fields a remote caller may set: all but :data:`tubesum.options.LOCAL_ONLY` (device, compute
#: type, output directory, summary backend and model are the server's to choose). Limits come with the fields.
API_FIELDS: tuple[str, ...] = tuple(name for name in RunOptions.model_fields if name not in LOCAL_ONLY)

#: Where the API's default differs from "the server's setting" (what API clients have always got).
_API_DEFAULTS: dict[str, Any] = {
    "formats": Settings.model_fields["formats"].default,
    "word_timestamps": False,
    "captions": "auto",
    "diarize": False,
    "summarize": False,
}
#: Limits a remote caller has on top of the field's own.
_API_LIMITS: dict[str, dict[str, Any]] = {
    "model": {"max_length": 200},
    "speaker_names": {"max_length": 50},
}


class _JobOptionsBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_run_options(cls, options: RunOptions) -> Self:
        """The API request for ``options``; an option a server does not take (device, output directory…) is refused."""
        local = sorted(set(options.overrides()) - set(cls.model_fields))
        if local:
            raise ConfigError(
                f"A server does not take these options: {', '.join(local)}.",
                hint="Leave them out, or run on this machine.",
            )
        return cls.model_validate(options.overrides())

    def run_options(self) -> RunOptions:
        """These options as the one options model (what the service runs with)."""
        return RunOptions.model_validate(self.model_dump())

    def effective(self, settings: Settings) -> Settings:
        """Return ``settings`` with these options applied (:func:`tubesum.options.resolve`)."""
        return resolve(self.run_options(), settings)


def _api_field(name: str) -> tuple[Any, Any]:
    info = RunOptions.model_fields[name]
    field = copy(info)
    if name in _API_DEFAULTS:
        field = FieldInfo.merge_field_infos(info, default=_API_DEFAULTS[name])
        field.annotation = _not_none(info.annotation)
    if name in _API_LIMITS:
        field = FieldInfo.merge_field_infos(field, Field(**_API_LIMITS[name]))
    return field.annotation, field


def _not_none(annotation: Any) -> Any:
    args = tuple(a for a in get_args(annotation) if a is not type(None))
    return args[0] if len(args) == 1 else annotation


def _job_options_model() -> type[_JobOptionsBase]:
    """``JobOptions``: a pydantic model over :data:`API_FIELDS`, each taken from ``RunOptions``."""
    return create_model(  # type: ignore[no-any-return,call-overload]
        "JobOptions",
        __base__=_JobOptionsBase,
        __doc__="What a client may ask for (a validated subset of the run options); unknown fields are refused.",
        __module__=__name__,
        __validators__=VALIDATORS,
        **{name: _api_field(name) for name in API_FIELDS},
    )


if TYPE_CHECKING:  # a typed view for mypy: every JobOptions field is a RunOptions field

    class JobOptions(RunOptions, _JobOptionsBase):
        """What a client may ask for."""

else:
    JobOptions = _job_options_model()


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


def cache_key(source_key: str, options: JobOptions, *, model_identity: str, settings: Settings) -> str:
    """Return the key under which a finished result can be reused.

    Every result-shaping option counts, by its resolved value (the option, else the server's setting): all
    ``RunOptions`` fields but :data:`tubesum.options.NOT_RESULT_SHAPING` (so a new option cannot be forgotten),
    the model's identity/revision, and RESULT_FORMAT_VERSION. Output formats do not (any format renders from the
    stored transcript).
    """
    shaping = {
        **result_shaping(options.effective(settings)),
        "v": RESULT_FORMAT_VERSION,
        "source": source_key,
        "model_identity": model_identity,
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()


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
