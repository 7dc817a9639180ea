"""``SqlJobStore``: the :class:`~tubesum.jobs.types.JobStore` contract on SQLAlchemy, composed with a
:class:`~tubesum.jobs.keys.SqlKeyStore` on the same engine (``store.keys``), so one object serves jobs and keys.

Every method is one short transaction and returns frozen records from :mod:`tubesum.jobs.types`, never ORM
objects. Transactions that read and then write run on :func:`~tubesum.jobs.db.for_writes` (SQLite:
``BEGIN IMMEDIATE``, one writer at a time) and lock the rows they change (PostgreSQL: ``SELECT ... FOR UPDATE``;
``claim`` adds ``SKIP LOCKED`` so workers never wait on each other's job). Usage::

    engine = make_engine(settings.sqlalchemy_url)
    migrate.upgrade(settings.sqlalchemy_url)
    store = SqlJobStore(engine)
    job, created = store.create(new_job)
"""

from __future__ import annotations

import builtins
import functools
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, and_, bindparam, delete, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.engine import CursorResult, Engine, Row, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Delete, Update

from tubesum.errors import StoreUnavailableError, WorkerLostError
from tubesum.jobs.db import is_sqlite, make_engine, single_reads, store_error
from tubesum.jobs.keys import SqlKeyStore
from tubesum.jobs.schema import ArtifactRow, JobRow
from tubesum.jobs.types import ApiKeyRecord, JobOptions, JobRecord, JobState, NewJob, Page
from tubesum.jobs.webhook_store import SqlWebhookStore
from tubesum.records import Rendered

__all__ = ["SqlJobStore", "check_store"]

logger = logging.getLogger(__name__)

_FINISHED = tuple(s.value for s in JobState if s.finished)
_ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)
WRITE_PROBE_MS = 2000  # the longest a readiness write probe waits for the SQLite write lock
_ARTIFACT_COLUMNS = ("job_id", "format", "content_type", "filename", "data", "size")


def _now() -> datetime:
    return datetime.now(UTC)


def _rowcount(s: Session, statement: Update | Delete) -> int:
    """Execute an UPDATE/DELETE and return how many rows it touched."""
    result: CursorResult[Any] = s.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount)


class SqlJobStore(SqlWebhookStore):
    """Jobs, artifacts, API keys and webhook deliveries in one SQL database (SQLite or PostgreSQL); thread-safe.

    ``SqlJobStore(engine)``: the engine comes from :func:`~tubesum.jobs.db.make_engine`, migrated to head. The
    API keys are ``store.keys`` (a :class:`~tubesum.jobs.keys.SqlKeyStore` on the same engine); the key methods
    here hand on to it, so the store still answers the whole ``KeyStore`` contract.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.keys = SqlKeyStore(engine)

    # -- API keys (composed: the key store does the work) ----------------------------------------------------
    def create_key(self, name: str) -> tuple[ApiKeyRecord, str]:
        return self.keys.create_key(name)

    def verify_key(self, token: str) -> ApiKeyRecord | None:
        return self.keys.verify_key(token)

    def recently_verified(self, token: str) -> ApiKeyRecord | None:
        return self.keys.recently_verified(token)

    def revoke_key(self, key_id: str) -> bool:
        return self.keys.revoke_key(key_id)

    def list_keys(self) -> list[ApiKeyRecord]:
        return self.keys.list_keys()

    def webhook_secret(self, key_id: str) -> str | None:
        return self.keys.webhook_secret(key_id)

    def rotate_webhook_secret(self, key_id: str) -> str | None:
        return self.keys.rotate_webhook_secret(key_id)

    @functools.cached_property
    def _single_reads(self) -> Engine:
        return single_reads(self.engine)

    # -- submit / read ------------------------------------------------------------------------------------
    def create(self, new: NewJob) -> tuple[JobRecord, bool]:
        """Insert a queued job, or return the owner's job with the same idempotency key (``created=False``)."""
        result = self._insert(new, from_cache=False)
        assert result is not None  # only a cache lookup can come back empty
        return result

    def create_from_cache(self, new: NewJob) -> JobRecord | None:
        """Copy the newest succeeded job with ``new.cache_key`` (checkpoint and artifacts) into a new job.

        The copy is independent: deleting either job never affects the other. The idempotency key is honoured
        as in :meth:`create` (the existing job is returned, whatever its state). The returned record of a new
        copy leaves the checkpoint out, like ``get(checkpoint=False)``; :meth:`get` reads it.
        """
        result = self._insert(new, from_cache=True)
        return result[0] if result is not None else None

    def get(self, job_id: str, *, checkpoint: bool = True) -> JobRecord | None:
        """Read one job with Core statements, no ORM objects: the hot path of status polling.

        ``checkpoint=False`` skips the checkpoint (it holds the transcript, whose JSON decode dominates the
        read of a finished job): the record's ``checkpoint`` is then empty. Formats are read only for
        succeeded jobs, the only ones with artifacts; each statement is atomic on its own (no ``BEGIN`` on
        SQLite), which is enough: a succeeded job's artifacts only change when the job is deleted.
        """
        with self._single_reads.connect() as conn:
            row = conn.execute(_GET_JOB if checkpoint else _GET_JOB_STATUS, {"job_id": job_id}).first()
            if row is None:
                return None
            formats: Sequence[str] = ()
            if row.state == JobState.SUCCEEDED.value:
                formats = conn.scalars(_JOB_FORMATS, {"job_id": job_id}).all()
        return _job_record(row, formats)

    def list(self, *, owner: str | None, state: JobState | None = None, limit: int = 20, offset: int = 0) -> Page:
        """Newest first; ``owner=None`` lists every owner's jobs (admin/CLI only)."""
        conditions = []
        if owner is not None:
            conditions.append(JobRow.owner == owner)
        if state is not None:
            conditions.append(JobRow.state == state.value)
        limit, offset = max(limit, 0), max(offset, 0)
        with self._read.begin() as s:
            total = s.scalar(select(func.count()).select_from(JobRow).where(*conditions)) or 0
            rows = s.scalars(
                select(JobRow)
                .where(*conditions)
                .order_by(JobRow.created_at.desc(), JobRow.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            formats = self._formats(s, [row.id for row in rows])
            items = [_job_record(row, formats.get(row.id, ())) for row in rows]
        return Page(items=items, total=total, limit=limit, offset=offset)

    # -- worker side --------------------------------------------------------------------------------------
    def claim(self, *, worker: str, now: datetime | None = None) -> JobRecord | None:
        """Move the oldest claimable queued job to running (attempts + 1); None when nothing is claimable."""
        due = now or _now()
        with self._write.begin() as s:
            row = s.scalars(
                select(JobRow)
                .where(JobRow.state == JobState.QUEUED.value)
                .where(or_(JobRow.not_before.is_(None), JobRow.not_before <= due))
                .order_by(JobRow.created_at, JobRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite holds the write lock since BEGIN
            ).first()
            if row is None:
                return None
            # The start time is read once the row is found: a job created after ``due`` was taken (another
            # thread's commit) must not start before it was created.
            _start(row, worker, now or _now())
            s.flush()
            return self._record(s, row)

    def claim_job(
        self, job_id: str, *, worker: str, stale_after: float | None = None, max_attempts: int | None = None
    ) -> JobRecord | None:
        """Move the given job to running for ``worker`` (attempts + 1); None when there is nothing to run.

        A queued job is claimed once its ``not_before`` has passed. With ``stale_after`` a *running* job is taken
        over too, but only when its worker has not written for that many seconds (progress and
        :meth:`heartbeat` both write ``updated_at``), so a live worker's job is never run twice; its checkpoint
        is kept. A taken-over job that already had ``max_attempts`` attempts fails with ``worker_lost``; a job
        whose cancel was requested is cancelled instead of claimed.
        """
        now = _now()
        claimable = [
            and_(JobRow.state == JobState.QUEUED.value, or_(JobRow.not_before.is_(None), JobRow.not_before <= now))
        ]
        if stale_after is not None:
            stale = now - timedelta(seconds=stale_after)
            claimable.append(and_(JobRow.state == JobState.RUNNING.value, JobRow.updated_at < stale))
        with self._write.begin() as s:
            row = s.scalars(
                select(JobRow).where(JobRow.id == job_id, or_(*claimable)).with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            if row.cancel_requested:
                row.state, row.finished_at, row.updated_at, row.progress = JobState.CANCELLED.value, now, now, None
                return None
            if row.state == JobState.RUNNING.value and max_attempts is not None and row.attempts >= max_attempts:
                _lost(row, now)
                return None
            _start(row, worker, now)
            s.flush()
            return self._record(s, row)

    def heartbeat(self, job_id: str, *, worker: str) -> bool:
        """Mark ``worker``'s running job alive; False when it should stop (cancel requested, or no longer its job)."""
        with self._write.begin() as s:
            touched = _rowcount(
                s,
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == JobState.RUNNING.value, JobRow.worker == worker)
                .where(JobRow.cancel_requested.is_(False))
                .values(updated_at=_now()),
            )
            return touched == 1

    def reap_stale(self, *, stale_after: float, max_attempts: int) -> tuple[int, int]:
        """Running jobs nobody has written for ``stale_after`` seconds: requeue them, or fail them with
        ``worker_lost`` once they had ``max_attempts`` attempts (cancel requested: cancelled). Returns
        ``(requeued, failed)`` — failed counts the cancelled ones too.
        """
        now = _now()
        stale = [JobRow.state == JobState.RUNNING.value, JobRow.updated_at < now - timedelta(seconds=stale_after)]
        requeued = failed = 0
        with self._write.begin() as s:
            for row in s.scalars(select(JobRow).where(*stale).with_for_update(skip_locked=True)):
                if row.cancel_requested:
                    row.state, row.finished_at, row.updated_at, row.progress = JobState.CANCELLED.value, now, now, None
                    failed += 1
                elif row.attempts >= max_attempts:
                    _lost(row, now)
                    failed += 1
                else:
                    row.state, row.stage, row.progress, row.worker, row.updated_at = (
                        JobState.QUEUED.value,
                        None,
                        None,
                        None,
                        now,
                    )
                    requeued += 1
        return requeued, failed

    def identical_work(self, job: JobRecord) -> JobRecord | None:
        """The job whose transcript ``job`` can take instead of running the pipeline (single flight): the newest
        succeeded job with the same cache key (checkpoint included), else the earliest-started *running* one that
        started before ``job`` (status only; wait for it). None: ``job`` leads and runs the pipeline itself.
        """
        with self._read.begin() as s:
            done = s.scalars(
                select(JobRow.id)
                .where(JobRow.cache_key == job.cache_key, JobRow.state == JobState.SUCCEEDED.value)
                .where(JobRow.id != job.id)
                .order_by(JobRow.finished_at.desc())
                .limit(1)
            ).first()
            if done is None and job.started_at is not None:
                earlier = or_(
                    JobRow.started_at < job.started_at, and_(JobRow.started_at == job.started_at, JobRow.id < job.id)
                )
                leader = s.scalars(
                    select(JobRow.id)
                    .where(JobRow.cache_key == job.cache_key, JobRow.state == JobState.RUNNING.value)
                    .where(JobRow.id != job.id, earlier)
                    .order_by(JobRow.started_at, JobRow.id)
                    .limit(1)
                ).first()
                return self.get(leader, checkpoint=False) if leader else None
        return self.get(done) if done else None

    def update_progress(self, job_id: str, *, stage: str, progress: float | None) -> bool:
        """Record progress; False when the job was cancelled or is no longer running (the worker should stop)."""
        with self._write.begin() as s:
            changed = _rowcount(
                s,
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == JobState.RUNNING.value)
                .where(JobRow.cancel_requested.is_(False))
                .values(stage=stage, progress=progress, updated_at=_now()),
            )
            return changed == 1

    def save_checkpoint(self, job_id: str, stage: str, record: dict[str, Any]) -> None:
        with self._write.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is not None:
                row.checkpoint = {**row.checkpoint, stage: record}
                row.updated_at = _now()

    def succeed(
        self, job_id: str, *, artifacts: Sequence[Rendered], audio_seconds: float | None, title: str | None
    ) -> None:
        """Replace the job's artifacts and mark it succeeded, in one transaction (a cancelled job stays so)."""
        now = _now()
        with self._write.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None or row.state == JobState.CANCELLED.value:
                logger.warning("not marking job %s succeeded: it is %s", job_id, row.state if row else "gone")
                return
            s.execute(delete(ArtifactRow).where(ArtifactRow.job_id == job_id))
            by_format = {a.format: a for a in artifacts}  # one row per format: the last one given wins
            s.add_all(
                ArtifactRow(
                    job_id=job_id,
                    format=a.format,
                    content_type=a.content_type,
                    filename=a.filename,
                    data=a.data,
                    size=len(a.data),
                )
                for a in by_format.values()
            )
            row.state = JobState.SUCCEEDED.value
            row.finished_at = row.updated_at = now
            row.audio_seconds, row.title = audio_seconds, title
            row.stage = row.progress = row.error_code = row.error_message = None

    def fail(self, job_id: str, *, code: str, message: str) -> None:
        """Mark a queued or running job failed (the stage it failed in is kept); finished jobs are left alone."""
        with self._write.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None or row.state in _FINISHED:
                return
            row.state = JobState.FAILED.value
            row.finished_at = row.updated_at = _now()
            row.error_code, row.error_message, row.progress = code, message, None

    def retry_later(self, job_id: str, *, not_before: datetime, code: str, message: str) -> None:
        """Running → queued, claimable after ``not_before``; a job whose cancel was requested is cancelled instead."""
        now = _now()
        with self._write.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None or row.state != JobState.RUNNING.value:
                return
            row.error_code, row.error_message, row.updated_at = code, message, now
            row.stage = row.progress = None
            if row.cancel_requested:
                row.state, row.finished_at = JobState.CANCELLED.value, now
            else:
                row.state, row.not_before, row.worker = JobState.QUEUED.value, not_before, None

    def requeue_running(
        self, *, worker: str | None = None, job_id: str | None = None, max_attempts: int | None = None
    ) -> int:
        """Running jobs (of ``worker``, or all; only ``job_id`` when given) back to queued, checkpoints kept;
        returns how many were moved. Jobs whose cancel was requested are cancelled instead, and with
        ``max_attempts`` a job that already had that many attempts fails with ``worker_lost`` (both counted too).
        """
        now = _now()
        running = [JobRow.state == JobState.RUNNING.value]
        if worker is not None:
            running.append(JobRow.worker == worker)
        if job_id is not None:
            running.append(JobRow.id == job_id)
        with self._write.begin() as s:
            cancelled = _rowcount(
                s,
                update(JobRow)
                .where(*running, JobRow.cancel_requested.is_(True))
                .values(state=JobState.CANCELLED.value, finished_at=now, updated_at=now, progress=None),
            )
            lost = 0
            if max_attempts is not None:
                for row in s.scalars(select(JobRow).where(*running, JobRow.attempts >= max_attempts)):
                    _lost(row, now)
                    lost += 1
                s.flush()
            requeued = _rowcount(
                s,
                update(JobRow)
                .where(*running)
                .values(state=JobState.QUEUED.value, stage=None, progress=None, worker=None, updated_at=now),
            )
        return cancelled + lost + requeued

    # -- client actions -----------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobRecord | None:
        """Queued → cancelled at once; running → cancel_requested; finished → unchanged. None when missing."""
        now = _now()
        with self._write.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                return None
            if row.state == JobState.QUEUED.value:
                row.state, row.finished_at, row.updated_at = JobState.CANCELLED.value, now, now
            elif row.state == JobState.RUNNING.value and not row.cancel_requested:
                row.cancel_requested, row.updated_at = True, now
            s.flush()
            return self._record(s, row)

    def mark_cancelled(self, job_id: str) -> None:
        """The worker stopped after a cancel request: running (or queued) → cancelled."""
        with self._write.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is not None and row.state not in _FINISHED:
                row.state = JobState.CANCELLED.value
                row.finished_at = row.updated_at = _now()
                row.progress = None

    def delete(self, job_id: str) -> bool:
        """Delete a finished job (its artifacts go with it: ON DELETE CASCADE); False otherwise."""
        with self._write.begin() as s:
            return _rowcount(s, delete(JobRow).where(JobRow.id == job_id, JobRow.state.in_(_FINISHED))) == 1

    def artifact(self, job_id: str, fmt: str) -> Rendered | None:
        with self._read.begin() as s:
            row = s.scalars(select(ArtifactRow).where(ArtifactRow.job_id == job_id, ArtifactRow.format == fmt)).first()
            if row is None:
                return None
            return Rendered(
                format=row.format,
                content_type=row.content_type,
                filename=row.filename,
                data=row.data,
            )

    # -- housekeeping and metrics -------------------------------------------------------------------------
    def purge_finished_before(self, cutoff: datetime) -> int:
        """Delete finished jobs (and their artifacts) that finished before ``cutoff``; never queued/running ones."""
        with self._write.begin() as s:
            return _rowcount(s, delete(JobRow).where(JobRow.state.in_(_FINISHED), JobRow.finished_at < cutoff))

    def count_by_state(self) -> dict[JobState, int]:
        """Return the number of jobs in every state (0 for states without jobs)."""
        counts = dict.fromkeys(JobState, 0)
        with self._read.begin() as s:
            for state, count in s.execute(select(JobRow.state, func.count()).group_by(JobRow.state)):
                counts[JobState(state)] = int(count)
        return counts

    def oldest_queued_at(self) -> datetime | None:
        """When the oldest queued job was created (None: nothing queued)."""
        with self._read.begin() as s:
            oldest = s.scalar(select(func.min(JobRow.created_at)).where(JobRow.state == JobState.QUEUED.value))
        if oldest is not None and oldest.tzinfo is None:  # SQLite hands back naive UTC
            oldest = oldest.replace(tzinfo=UTC)
        return oldest

    def active_jobs(self, owner: str) -> int:
        """Queued + running jobs of one owner (concurrency quota)."""
        with self._read.begin() as s:
            query = select(func.count()).select_from(JobRow).where(JobRow.owner == owner, JobRow.state.in_(_ACTIVE))
            return int(s.scalar(query) or 0)

    def audio_seconds_since(self, owner: str, since: datetime) -> float:
        """Audio seconds of the owner's jobs created since ``since`` (daily quota); cache hits cost nothing."""
        with self._read.begin() as s:
            total = s.scalar(
                select(func.sum(JobRow.audio_seconds)).where(
                    JobRow.owner == owner, JobRow.created_at >= since, JobRow.cache_hit.is_(False)
                )
            )
            return float(total or 0.0)

    def ping(self, *, write: bool = False) -> None:
        """Raise if the database cannot be reached (readiness); with ``write``, also if it cannot be written now.

        The write probe takes the write lock and rolls back, waiting at most ``WRITE_PROBE_MS`` (SQLite: a lock
        held by another writer, a read-only file), or asks PostgreSQL for a transaction id (a read-only server
        or standby refuses).
        """
        if not write:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        if not is_sqlite(self.engine):
            with self.engine.begin() as conn:
                conn.execute(text("SELECT txid_current()"))
            return
        raw = self.engine.raw_connection()  # pysqlite in autocommit mode (see tubesum.jobs.db): no implicit BEGIN
        try:
            cursor = raw.cursor()
            busy = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
            cursor.execute(f"PRAGMA busy_timeout={WRITE_PROBE_MS}")
            try:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("CREATE TABLE tubesum_write_probe (x)")  # a write the file must take; rolled back
                cursor.execute("ROLLBACK")
            finally:
                cursor.execute(f"PRAGMA busy_timeout={int(busy)}")
                cursor.close()
        finally:
            raw.close()

    # -- helpers ------------------------------------------------------------------------------------------
    def _insert(self, new: NewJob, *, from_cache: bool) -> tuple[JobRecord, bool] | None:
        try:
            with self._write.begin() as s:
                existing = _by_idempotency_key(s, new)
                if existing is not None:
                    return self._record(s, existing), False
                row = _new_row(new)
                if from_cache:
                    source = _cached_source(s, new.cache_key)
                    if source is None:
                        return None
                    _copy_result(s, source, row)
                else:
                    s.add(row)
                s.flush()
                return self._record(s, row), True
        except IntegrityError:  # another transaction inserted the same (owner, idempotency key) meanwhile
            with self._read.begin() as s:
                existing = _by_idempotency_key(s, new)
                if existing is None:
                    raise
                return self._record(s, existing), False

    def _record(self, s: Session, row: JobRow) -> JobRecord:
        return _job_record(row, self._formats(s, [row.id]).get(row.id, ()))

    @staticmethod
    def _formats(s: Session, job_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        if not job_ids:
            return {}
        found: dict[str, builtins.list[str]] = {}
        query = select(ArtifactRow.job_id, ArtifactRow.format).where(ArtifactRow.job_id.in_(job_ids))
        for job_id, fmt in s.execute(query.order_by(ArtifactRow.id)):
            found.setdefault(job_id, []).append(fmt)
        return {job_id: tuple(fmts) for job_id, fmts in found.items()}


def _start(row: JobRow, worker: str, now: datetime) -> None:
    row.state = JobState.RUNNING.value
    row.attempts += 1
    row.started_at = row.updated_at = now
    row.worker = worker
    row.stage = row.progress = row.not_before = None


def _lost(row: JobRow, now: datetime) -> None:
    row.state, row.finished_at, row.updated_at, row.progress = JobState.FAILED.value, now, now, None
    row.error_code = WorkerLostError.code
    row.error_message = f"The job's worker stopped answering on each of its {row.attempts} attempts."


def _new_row(new: NewJob) -> JobRow:
    now = _now()
    return JobRow(
        id=uuid.uuid4().hex,
        owner=new.owner,
        state=JobState.QUEUED.value,
        source=new.source,
        source_key=new.source_key,
        options=new.options.model_dump(mode="json"),
        cache_key=new.cache_key,
        idempotency_key=new.idempotency_key,
        attempts=0,
        created_at=now,
        updated_at=now,
        cancel_requested=False,
        cache_hit=False,
        checkpoint={},
        callback_url=new.callback_url,
        webhook_state="pending" if new.callback_url else None,
        webhook_attempts=0,
    )


def _by_idempotency_key(s: Session, new: NewJob) -> JobRow | None:
    if new.idempotency_key is None:
        return None
    query = select(JobRow).where(JobRow.owner == new.owner, JobRow.idempotency_key == new.idempotency_key)
    return s.scalars(query).first()


def _cached_source(s: Session, key: str) -> Row[str, float | None, str | None] | None:
    """Return id, audio seconds and title of the newest succeeded job with this cache key that still has
    artifacts (not its checkpoint: the copy happens in SQL, see :func:`_copy_result`).
    """
    has_artifacts = exists().where(ArtifactRow.job_id == JobRow.id)
    query = (
        select(JobRow.id, JobRow.audio_seconds, JobRow.title)
        .where(JobRow.cache_key == key, JobRow.state == JobState.SUCCEEDED.value, has_artifacts)
        .order_by(JobRow.finished_at.desc(), JobRow.created_at.desc())
        .limit(1)
    )
    return s.execute(query).first()


def _copy_result(s: Session, source: Row[str, float | None, str | None], row: JobRow) -> None:
    """Make ``row`` a succeeded cache hit of ``source``, with its own copies of the checkpoint and artifacts.

    Both are copied by the database (``UPDATE … SELECT``, ``INSERT … SELECT``): a long transcript is never decoded
    and re-encoded in Python, so a cache hit costs the same for a 30-minute video as for a 1-minute one.
    """
    row.state = JobState.SUCCEEDED.value
    row.cache_hit = True
    row.audio_seconds, row.title = source.audio_seconds, source.title
    row.started_at = row.finished_at = row.created_at
    s.add(row)
    s.flush()
    checkpoint = select(_JOBS.c.checkpoint).where(_JOBS.c.id == source.id).scalar_subquery()
    copy = update(JobRow).where(JobRow.id == row.id).values(checkpoint=checkpoint)
    s.execute(copy.execution_options(synchronize_session=False))  # never load the copied transcript
    copied = select(
        literal(row.id, String(32)),
        ArtifactRow.format,
        ArtifactRow.content_type,
        ArtifactRow.filename,
        ArtifactRow.data,
        ArtifactRow.size,
    ).where(ArtifactRow.job_id == source.id)
    s.execute(insert(ArtifactRow).from_select(_ARTIFACT_COLUMNS, copied.order_by(ArtifactRow.id)))


_JOBS = JobRow.__table__
_GET_JOB = select(*_JOBS.columns).where(_JOBS.c.id == bindparam("job_id"))
_GET_JOB_STATUS = select(*(c for c in _JOBS.columns if c.name != "checkpoint")).where(_JOBS.c.id == bindparam("job_id"))
_JOB_FORMATS = select(ArtifactRow.format).where(ArtifactRow.job_id == bindparam("job_id")).order_by(ArtifactRow.id)


def _job_record(row: JobRow | Row[Any], formats: Sequence[str]) -> JobRecord:
    return JobRecord(
        id=row.id,
        owner=row.owner,
        state=JobState(row.state),
        source=row.source,
        source_key=row.source_key,
        options=JobOptions.model_validate(row.options),
        cache_key=row.cache_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stage=row.stage,
        progress=row.progress,
        attempts=row.attempts,
        error_code=row.error_code,
        error_message=row.error_message,
        started_at=row.started_at,
        finished_at=row.finished_at,
        cache_hit=row.cache_hit,
        audio_seconds=row.audio_seconds,
        title=row.title,
        checkpoint=dict(getattr(row, "checkpoint", None) or {}),  # a status read leaves it out
        cancel_requested=row.cancel_requested,
        not_before=row.not_before,
        idempotency_key=row.idempotency_key,
        formats=tuple(formats),
        callback_url=row.callback_url,
        webhook_state=row.webhook_state,
        webhook_attempts=row.webhook_attempts or 0,
    )


def check_store(url: str) -> None:
    """Migrate the job database at ``url`` and prove it can be written, before a server starts on it.

    Raises :class:`~tubesum.errors.StoreUnavailableError` (or ``DiskFullError``) with one line naming the
    database and the fix, instead of the driver's traceback from deep inside the server's start-up.
    """
    from tubesum.jobs.migrate import upgrade

    where = _describe(url)
    engine = make_engine(url)
    try:
        upgrade(url)
        SqlJobStore(engine).ping(write=True)
    except Exception as exc:
        translated = store_error(exc)
        if translated is None:
            raise
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if translated.code == StoreUnavailableError.code:
            translated = StoreUnavailableError(
                f"Cannot write the job database {where}: {reason}.",
                hint=_fix_for(url),
            )
        raise translated from None
    finally:
        engine.dispose()


def _describe(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(Path(parsed.database or ":memory:").expanduser())
    return parsed.render_as_string(hide_password=True)


def _fix_for(url: str) -> str:
    if make_url(url).get_backend_name() == "sqlite":
        return (
            "Make the file, its -wal/-shm files and its directory writable by this user "
            "(or set TUBESUM_DATA_DIR to a writable directory)."
        )
    return "Check that the database server is up and accepts writes (TUBESUM_DATABASE_URL)."
