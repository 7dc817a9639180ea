"""Request and response bodies of the API. Unknown fields in requests are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tubesum.jobs.types import JobOptions, JobRecord, JobState, WebhookDelivery

__all__ = ["DeliveryRead", "JobCreate", "JobList", "JobRead", "Problem", "WebhookRead", "webhook_body"]


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(..., min_length=1, max_length=2048, description="A YouTube URL (or any media URL if allowed).")
    options: JobOptions = Field(default_factory=lambda: JobOptions(), description="How to transcribe.")
    callback_url: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="Webhook: when the job ends, the job (as GET /v1/jobs/{id} shows it) is POSTed here, signed as "
        "Standard Webhooks specifies with your key's webhook secret. http(s) to a public host only.",
    )


class DeliveryRead(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None = Field(None, description="The receiver's HTTP status; none when no answer came.")
    error: str | None = Field(None, description="Why the attempt failed, when it did.")

    @classmethod
    def from_record(cls, delivery: WebhookDelivery) -> DeliveryRead:
        return cls(attempt=delivery.attempt, at=delivery.at, status_code=delivery.status_code, error=delivery.error)


class WebhookRead(BaseModel):
    url: str
    state: str = Field(description="pending (not yet delivered; retried with backoff), delivered or failed.")
    deliveries: list[DeliveryRead] | None = Field(
        None, description="Every attempt, oldest first (in GET /v1/jobs/{id}; left out of lists)."
    )


class JobRead(BaseModel):
    id: str
    state: JobState
    source: str
    options: JobOptions
    stage: str | None = None
    progress: float | None = None
    error: dict[str, str] | None = None
    cache_hit: bool = False
    title: str | None = None
    audio_seconds: float | None = None
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    results: dict[str, str] = Field(default_factory=dict, description="Format → result URL (when succeeded).")
    webhook: WebhookRead | None = Field(None, description="The job's callback_url and its deliveries, if any.")

    @classmethod
    def from_record(cls, job: JobRecord, *, deliveries: list[WebhookDelivery] | None = None) -> JobRead:
        error = {"code": job.error_code, "message": job.error_message or ""} if job.error_code else None
        results = (
            {fmt: f"/v1/jobs/{job.id}/result?format={fmt}" for fmt in job.options.formats}
            if job.state is JobState.SUCCEEDED
            else {}
        )
        return cls(
            id=job.id,
            state=job.state,
            source=job.source,
            options=job.options,
            stage=job.stage,
            progress=job.progress,
            error=error if job.state is not JobState.SUCCEEDED else None,
            cache_hit=job.cache_hit,
            title=job.title,
            audio_seconds=job.audio_seconds,
            attempts=job.attempts,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            results=results,
            webhook=_webhook(job, deliveries),
        )


def _webhook(job: JobRecord, deliveries: list[WebhookDelivery] | None) -> WebhookRead | None:
    if job.callback_url is None:
        return None
    return WebhookRead(
        url=job.callback_url,
        state=job.webhook_state or "pending",
        deliveries=[DeliveryRead.from_record(d) for d in deliveries] if deliveries is not None else None,
    )


def webhook_body(job: JobRecord) -> bytes:
    """What a job's webhook POSTs: the job as ``GET /v1/jobs/{id}`` shows it, less the webhook's own log."""
    return JobRead.from_record(job).model_dump_json(exclude={"webhook"}).encode()


class JobList(BaseModel):
    items: list[JobRead]
    total: int
    limit: int
    offset: int


class Problem(BaseModel):
    """RFC 9457 problem details, with tubesum's stable error ``code``."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str
    hint: str | None = None
    errors: list[dict[str, Any]] | None = None
