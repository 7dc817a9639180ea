"""One error family for tubesum, each error with a stable code.

Library code raises these; front ends translate them at the edge (the CLI prints the message and exits with
``exit_code``; the API returns ``http_status`` with ``code`` in a problem+json body). Codes are part of the
public contract: never rename one, add a new one instead.

    * TubesumError                      tubesum_error          exit 1
      + ConfigError                     config_invalid         exit 2
      + MissingExtraError               missing_extra          exit 7
      + SourceError                     invalid_source         exit 3
      |  + InvalidUrlError              invalid_url
      |  + UnsafeUrlError               unsafe_url             (SSRF guard)
      |  + GenericUrlNotAllowedError    generic_url_disabled
      |  + SourceNotFoundError          file_not_found
      |  + UnsupportedMediaError        not_media
      |  + EmptyAudioError              empty_audio
      |  + DurationLimitError           duration_limit
      |  + SizeLimitError               size_limit
      |  |  + UploadQuotaError          upload_quota           (per key)
      |  + UploadsDisabledError         uploads_disabled       (HTTP 403)
      |  + UploadTimeoutError           upload_timeout         (HTTP 408)
      + FetchError                      fetch_failed           exit 4
      |  + VideoUnavailableError        video_unavailable
      |  + PrivateVideoError            video_private
      |  + GeoBlockedError              geo_blocked
      |  + AgeRestrictedError           age_restricted
      |  + LoginRequiredError           login_required
      |  + CaptionsUnavailableError     captions_unavailable
      |  + NetworkError                 network                (transient)
      |  + RateLimitedError             rate_limited           (transient)
      + TranscriptionError              transcription_failed   exit 5
      |  + ModelNotFoundError           model_not_found
      |  + ModelLoadError               model_load_failed
      |  + DeviceUnavailableError       device_unavailable
      + SummaryError                    summary_failed         exit 5
      |  + SummaryBackendError          summary_backend        (transient when the endpoint is)
      + DiarizationError                diarization_failed     exit 5
      |  + TokenMissingError            hf_token_missing
      |  + GatedModelError              gated_model
      + OutputError                     output_failed          exit 6
      |  + OutputDirError               output_unwritable
      |  + DiskFullError                disk_full
      + JobError                        job_failed             (how a queued job ended, not what it processed)
      |  + JobTimeoutError              job_timeout
      |  + WorkerLostError              worker_lost            (its worker died on every attempt)
      + QuotaExceededError              quota_exceeded         exit 3  (HTTP 429 + Retry-After)
      + IdempotencyKeyReusedError       idempotency_key_reused exit 1  (HTTP 422)
      + InvalidCallbackUrlError         invalid_callback_url   exit 1  (HTTP 422; webhooks)
      + WebhookSecretMissingError       webhook_secret_missing exit 1  (HTTP 422; webhooks)
      + StoreUnavailableError           store_unavailable      exit 8  (the job database is down, locked or
                                                                        read-only; transient, HTTP 503 +
                                                                        Retry-After)
      + BackupError                     backup_failed          exit 1  (tubesum db backup/restore)
      + BenchError                      bench_failed           exit 1  (tubesum bench)
      + ApiError                        api_error              exit 1  (tubesum.client: the server's own code in
                                                                        ``server_code``, e.g. unauthorized)

Usage::

    try:
        result = transcribe(source, settings=settings)
    except tubesum.TubesumError as exc:
        print(exc.code, exc)       # "video_private", "This video is private."
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AgeRestrictedError",
    "ApiError",
    "BackupError",
    "BenchError",
    "CaptionsUnavailableError",
    "ConfigError",
    "DeviceUnavailableError",
    "DiarizationError",
    "DiskFullError",
    "DurationLimitError",
    "EmptyAudioError",
    "FetchError",
    "GatedModelError",
    "GenericUrlNotAllowedError",
    "GeoBlockedError",
    "IdempotencyKeyReusedError",
    "InvalidCallbackUrlError",
    "InvalidUrlError",
    "JobError",
    "JobTimeoutError",
    "LoginRequiredError",
    "MissingExtraError",
    "ModelLoadError",
    "ModelNotFoundError",
    "NetworkError",
    "OutputDirError",
    "OutputError",
    "PrivateVideoError",
    "QuotaExceededError",
    "RateLimitedError",
    "SizeLimitError",
    "SourceError",
    "SourceNotFoundError",
    "StoreUnavailableError",
    "SummaryBackendError",
    "SummaryError",
    "TokenMissingError",
    "TranscriptionError",
    "TubesumError",
    "UnsafeUrlError",
    "UnsupportedMediaError",
    "UploadQuotaError",
    "UploadTimeoutError",
    "UploadsDisabledError",
    "VideoUnavailableError",
    "WebhookSecretMissingError",
    "WorkerLostError",
    "describe_validation",
    "error_class",
]


class TubesumError(Exception):
    """Root of every error tubesum raises on purpose.

    ``message`` is one human line; ``hint`` says what to do about it; ``details`` are machine-readable extras
    (never secrets). ``transient`` errors may succeed when retried later.
    """

    code: ClassVar[str] = "tubesum_error"
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    transient: ClassVar[bool] = False

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready mapping (code, message, hint, details)."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        if self.details:
            data["details"] = {
                k: str(v) if not isinstance(v, int | float | bool) else v for k, v in self.details.items()
            }
        return data


def describe_validation(exc: Exception, *, where: str = "input", first: bool = False) -> str:
    """Name each invalid field of a pydantic ``ValidationError`` and what is wrong with it, never its value (it
    may be a secret): ``"options.model: Field required; beam_size: ..."``. ``where`` names a model-level error;
    ``first`` keeps only the first problem. Anything else gives its first line."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    problems = errors()[:1] if first else errors()
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or where}: {err['msg']}" for err in problems)


def error_class(code: str) -> type[TubesumError]:
    """Return the error class whose stable ``code`` this is (``TubesumError`` for a code nobody has)."""
    todo: list[type[TubesumError]] = [TubesumError]
    while todo:
        cls = todo.pop()
        if cls.code == code:
            return cls
        todo.extend(cls.__subclasses__())
    return TubesumError


class ConfigError(TubesumError):
    code = "config_invalid"
    exit_code = 2


class MissingExtraError(TubesumError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "missing_extra"
    exit_code = 7
    http_status = 422  # the client asked for a feature this server lacks: it can drop the option (not a 5xx)

    def __init__(self, feature: str, extra: str, *, package: str | None = None) -> None:
        super().__init__(
            f"{feature} needs the optional '{extra}' extra{f' ({package})' if package else ''}.",
            hint=f"Install it with: pip install 'tubesum[{extra}]'",
            extra=extra,
        )


# -- the source the user gave us ---------------------------------------------------------------------------
class SourceError(TubesumError):
    code = "invalid_source"
    exit_code = 3
    http_status = 422


class InvalidUrlError(SourceError):
    code = "invalid_url"


class UnsafeUrlError(SourceError):
    code = "unsafe_url"


class GenericUrlNotAllowedError(SourceError):
    code = "generic_url_disabled"


class SourceNotFoundError(SourceError):
    code = "file_not_found"
    http_status = 404


class UnsupportedMediaError(SourceError):
    code = "not_media"
    http_status = 415


class EmptyAudioError(SourceError):
    code = "empty_audio"


class DurationLimitError(SourceError):
    code = "duration_limit"
    http_status = 413


class SizeLimitError(SourceError):
    code = "size_limit"
    http_status = 413


class UploadQuotaError(SizeLimitError):
    """The key's stored uploads would exceed ``upload_quota_mb``."""

    code = "upload_quota"


class UploadsDisabledError(SourceError):
    """The server does not accept uploads (``TUBESUM_UPLOADS_ENABLED`` is off)."""

    code = "uploads_disabled"
    http_status = 403


class UploadTimeoutError(SourceError):
    """The upload body stalled for longer than ``upload_idle_timeout``."""

    code = "upload_timeout"
    http_status = 408


# -- fetching media from the network -----------------------------------------------------------------------
class FetchError(TubesumError):
    code = "fetch_failed"
    exit_code = 4
    http_status = 502


class VideoUnavailableError(FetchError):
    code = "video_unavailable"
    http_status = 404


class PrivateVideoError(FetchError):
    code = "video_private"
    http_status = 403


class GeoBlockedError(FetchError):
    code = "geo_blocked"
    http_status = 451


class AgeRestrictedError(FetchError):
    code = "age_restricted"
    http_status = 403


class LoginRequiredError(FetchError):
    code = "login_required"
    http_status = 403


class CaptionsUnavailableError(FetchError):
    code = "captions_unavailable"
    http_status = 404


class NetworkError(FetchError):
    code = "network"
    http_status = 503
    transient = True


class RateLimitedError(FetchError):
    code = "rate_limited"
    http_status = 503
    transient = True


# -- speech recognition ------------------------------------------------------------------------------------
class TranscriptionError(TubesumError):
    code = "transcription_failed"
    exit_code = 5


class ModelNotFoundError(TranscriptionError):
    code = "model_not_found"
    http_status = 422


class ModelLoadError(TranscriptionError):
    code = "model_load_failed"


class DeviceUnavailableError(TranscriptionError):
    code = "device_unavailable"
    http_status = 503


# -- summaries and speakers --------------------------------------------------------------------------------
class SummaryError(TubesumError):
    code = "summary_failed"
    exit_code = 5


class SummaryBackendError(SummaryError):
    """The LLM endpoint failed (HTTP error, timeout, unparseable reply)."""

    code = "summary_backend"
    http_status = 502


class DiarizationError(TubesumError):
    code = "diarization_failed"
    exit_code = 5


class TokenMissingError(DiarizationError):
    code = "hf_token_missing"
    http_status = 422  # like missing_extra: speakers are not available on this server


class GatedModelError(DiarizationError):
    code = "gated_model"
    http_status = 503


# -- writing results ---------------------------------------------------------------------------------------
class OutputError(TubesumError):
    code = "output_failed"
    exit_code = 6


class OutputDirError(OutputError):
    code = "output_unwritable"


class DiskFullError(OutputError):
    code = "disk_full"
    http_status = 507


# -- job execution ------------------------------------------------------------------------------------------
class JobError(TubesumError):
    """A queued job could not run to the end for reasons of its own execution (time, lost workers)."""

    code = "job_failed"


class JobTimeoutError(JobError):
    code = "job_timeout"
    http_status = 504


class WorkerLostError(JobError):
    code = "worker_lost"
    http_status = 503


# -- submitting jobs ------------------------------------------------------------------------------------------
class QuotaExceededError(TubesumError):
    """A per-key quota (active jobs, audio hours per day) is used up; retry after ``retry_after`` seconds."""

    code = "quota_exceeded"
    exit_code = 3
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, retry_after=retry_after)
        self.retry_after = retry_after


class IdempotencyKeyReusedError(TubesumError):
    """An ``Idempotency-Key`` already named another request (IETF Idempotency-Key draft: 422)."""

    code = "idempotency_key_reused"
    http_status = 422


class InvalidCallbackUrlError(TubesumError):
    """The ``callback_url`` is not an http(s) URL to a public host (the SSRF guard's rules)."""

    code = "invalid_callback_url"
    http_status = 422


class WebhookSecretMissingError(TubesumError):
    """A ``callback_url`` was given but there is no secret to sign the webhook with."""

    code = "webhook_secret_missing"
    http_status = 422


# -- the job database ----------------------------------------------------------------------------------------
class StoreUnavailableError(TubesumError):
    """The job store cannot be read or written now (server down, lock held too long, read-only file).

    ``details["retry_after"]`` (seconds) becomes the API's ``Retry-After`` header.
    """

    code = "store_unavailable"
    exit_code = 8
    http_status = 503
    transient = True


# -- operator tools -------------------------------------------------------------------------------------------
class BackupError(TubesumError):
    """A backup or restore that cannot go ahead; the message says why and what to do."""

    code = "backup_failed"


class BenchError(TubesumError):
    """A benchmark step could not run (missing tool, a measured process failed, a job did not succeed)."""

    code = "bench_failed"


# -- talking to a tubesum server (tubesum.client) ----------------------------------------------------------
class ApiError(TubesumError):
    """The server answered with an error that has no class of its own here (``unauthorized``, ``not_found``,
    ``validation_error``, ``conflict``, ...). ``server_code`` is the server's stable code, ``status`` the HTTP status.
    """

    code = "api_error"

    def __init__(self, message: str, *, server_code: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, server_code=server_code, status=status)
        self.server_code = server_code
        self.status = status
