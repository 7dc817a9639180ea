"""The job store's tables as SQLAlchemy 2 declarative models: ``jobs``, ``artifacts``, ``api_keys``,
``webhook_deliveries``.

Types are portable (JSON, LargeBinary, timezone-aware DateTime) so the same models serve SQLite and PostgreSQL.
Every datetime column is :class:`UtcDateTime`: aware UTC in, aware UTC out, on both databases.
The Alembic migrations in ``tubesum/jobs/migrations`` must match these models exactly (a test checks it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["NAMING_CONVENTION", "ApiKeyRow", "ArtifactRow", "Base", "JobRow", "UtcDateTime", "WebhookDeliveryRow"]

# Deterministic constraint names, so migrations can drop/alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that takes only aware datetimes and always returns aware UTC ones.

    SQLite stores no offset and hands back naive values; they were written as UTC, so UTC is attached on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the job store takes timezone-aware datetimes only (use datetime.now(UTC))")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class JobRow(Base):
    """One submitted job; see :class:`tubesum.jobs.types.JobRecord` for the meaning of each field."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
        Index("ix_jobs_claim", "state", "not_before", "created_at"),
        Index("ix_jobs_owner_created", "owner", "created_at"),
        Index("ix_jobs_cache", "cache_key", "state"),  # also serves lookups by cache_key alone
        Index("ix_jobs_state_finished", "state", "finished_at"),  # retention purge
        Index("ix_jobs_webhook_due", "webhook_state", "webhook_next_at"),  # the webhook sender's poll
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4().hex
    owner: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    source_key: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    cache_key: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    stage: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    worker: Mapped[str | None] = mapped_column(String(255))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    audio_seconds: Mapped[float | None] = mapped_column(Float)
    title: Mapped[str | None] = mapped_column(Text)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Webhook (tubesum.jobs.webhooks): where to POST the finished job, and the delivery's progress.
    callback_url: Mapped[str | None] = mapped_column(Text)
    webhook_state: Mapped[str | None] = mapped_column(String(16))  # pending | delivered | failed; None: no hook
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    webhook_next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # not sent before (backoff, lease)


class ArtifactRow(Base):
    """One rendered result (txt, srt, ...) of a job; deleted with its job."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "format", name="uq_artifacts_job_id_format"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)


class ApiKeyRow(Base):
    """An API key; only a hash of its secret is stored.

    ``secret_hash`` is the SHA-256 hex digest of the secret. A fast hash is right here (not bcrypt/argon2):
    the secret is 32 random bytes from ``secrets.token_urlsafe``, so there is nothing to brute-force, and
    every API request verifies a key.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The key's webhook signing secret (``whsec_<base64>``), kept as is: signing needs it, a hash would not do.
    # It is as safe as the database (file mode / server access); it signs webhooks only, it is no API key.
    webhook_secret: Mapped[str | None] = mapped_column(String(128))


class WebhookDeliveryRow(Base):
    """One attempt to POST a finished job to its ``callback_url``; deleted with its job."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_job_id", "job_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
