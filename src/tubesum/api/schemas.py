"""Request and response bodies of the API. Unknown fields in requests are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tubesum.jobs.types import JobOptions, JobRecord, JobState

__all__ = ["JobCreate", "JobList", "JobRead", "Problem"]


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(..., min_length=1, max_length=2048, description="A YouTube URL (or any media URL if allowed).")
    options: JobOptions = Field(default_factory=lambda: JobOptions(), description="How to transcribe.")


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

    @classmethod
    def from_record(cls, job: JobRecord) -> JobRead:
        error = {"code": job.error_code, "message": job.error_message or ""} if job.error_code else None
        results = (
            {fmt: f"/v1/jobs/{job.id}/result?format={fmt}" for fmt in job.options.formats or ()}
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
        )


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
