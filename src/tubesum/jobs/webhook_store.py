"""``SqlWebhookStore``: the durable side of webhooks — which finished jobs still owe a delivery, and each attempt.

A job with a ``callback_url`` is created with ``webhook_state = "pending"``. Once the job is finished, any
process running a :class:`~tubesum.jobs.webhook_sender.WebhookSender` may claim it with :meth:`claim_webhook`,
which pushes ``webhook_next_at`` forward by a lease (so two processes never send the same attempt, and a
process that dies mid-attempt only delays it by the lease). :meth:`record_delivery` logs the attempt and marks
the job delivered, failed, or due again after the backoff — all in the database, so a restart loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from tubesum.jobs.db import for_writes
from tubesum.jobs.schema import JobRow, WebhookDeliveryRow
from tubesum.jobs.types import JobState, WebhookDelivery

__all__ = ["SqlWebhookStore", "WebhookTask"]

_FINISHED = tuple(s.value for s in JobState if s.finished)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class WebhookTask:
    """A claimed delivery: the job, its owner (whose secret signs), where to send it, and this attempt's number."""

    job_id: str
    owner: str
    url: str
    attempt: int


class SqlWebhookStore:
    """Webhook delivery state on the job store's tables; a base of :class:`~tubesum.jobs.store.SqlJobStore`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(for_writes(engine), expire_on_commit=False)

    def claim_webhook(self, *, lease: float, now: datetime | None = None) -> WebhookTask | None:
        """Take the finished job whose webhook is due longest; hold it for ``lease`` seconds. None: nothing due."""
        now = now or datetime.now(UTC)
        due = (
            JobRow.webhook_state == PENDING,
            JobRow.state.in_(_FINISHED),
            or_(JobRow.webhook_next_at.is_(None), JobRow.webhook_next_at <= now),
        )
        with self._read.begin() as s:  # the poll's usual answer, "nothing", costs no write lock (SQLite)
            if s.scalars(select(JobRow.id).where(*due).limit(1)).first() is None:
                return None
        with self._write.begin() as s:
            row = s.scalars(
                select(JobRow)
                .where(*due)
                .order_by(JobRow.webhook_next_at, JobRow.finished_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None or row.callback_url is None:
                return None
            row.webhook_next_at = now + timedelta(seconds=lease)
            return WebhookTask(row.id, row.owner, row.callback_url, (row.webhook_attempts or 0) + 1)

    def record_delivery(
        self,
        task: WebhookTask,
        *,
        status_code: int | None,
        error: str | None,
        outcome: str,
        retry_at: datetime | None = None,
    ) -> None:
        """Log one attempt; the job's webhook becomes ``delivered``, ``failed`` or ``pending`` till ``retry_at``."""
        now = datetime.now(UTC)
        with self._write.begin() as s:
            row = s.get(JobRow, task.job_id, with_for_update=True)
            if row is None:  # deleted meanwhile: nothing to record
                return
            s.add(
                WebhookDeliveryRow(
                    job_id=task.job_id, attempt=task.attempt, at=now, status_code=status_code, error=error
                )
            )
            row.webhook_attempts = task.attempt
            row.webhook_state = outcome
            row.webhook_next_at = retry_at if outcome == PENDING else None

    def deliveries(self, job_id: str) -> list[WebhookDelivery]:
        """Every attempt for the job, oldest first."""
        with self._read.begin() as s:
            rows = s.scalars(
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.job_id == job_id)
                .order_by(WebhookDeliveryRow.attempt, WebhookDeliveryRow.id)
            ).all()
            return [WebhookDelivery(r.attempt, r.at, r.status_code, r.error) for r in rows]

    def pending_webhooks(self) -> int:
        """How many webhooks are still owed (finished or not): for metrics and tests."""
        from sqlalchemy import func

        with self._read.begin() as s:
            return int(s.scalar(select(func.count()).select_from(JobRow).where(JobRow.webhook_state == PENDING)) or 0)
