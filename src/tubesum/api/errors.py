"""Exception handlers: every error becomes problem+json with a stable code; no traceback or secret leaves."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY, HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import SQLAlchemyError

from tubesum.api.schemas import Problem
from tubesum.errors import TubesumError
from tubesum.jobs.db import store_error

__all__ = ["exception_handlers"]

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _problem(
    status: int,
    code: str,
    detail: str,
    *,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response[Any]:
    body = Problem(
        title=code.replace("_", " ").capitalize(), status=status, code=code, detail=detail, hint=hint, errors=errors
    )
    return Response(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def tubesum_error(_: Request[Any, Any, Any], exc: TubesumError) -> Response[Any]:
    headers = None
    retry_after = exc.details.get("retry_after")
    if isinstance(retry_after, int):
        headers = {"Retry-After": str(retry_after)}
    return _problem(exc.http_status, exc.code, exc.message, hint=exc.hint, headers=headers)


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else None
    # Only field locations and messages go back: never the submitted values.
    safe = [{"key": e.get("key"), "message": e.get("message")} for e in errors or [] if isinstance(e, dict)]
    return _problem(HTTP_422_UNPROCESSABLE_ENTITY, "validation_error", "The request is invalid.", errors=safe or None)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = headers.get("RateLimit-Reset", "60")
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="tubesum"')
    code = _HTTP_CODES.get(status, "http_error")
    return _problem(status, code, exc.detail if status < 500 else "Internal error.", headers=headers or None)


def database_error(request: Request[Any, Any, Any], exc: SQLAlchemyError) -> Response[Any]:
    """The job database is full (507 ``disk_full``) or unavailable (503 ``store_unavailable`` + Retry-After)."""
    translated = store_error(exc)
    if translated is None:
        return internal_error(request, exc)
    logger.warning(
        "job database error", extra={"path": request.url.path, "code": translated.code, "error": type(exc).__name__}
    )
    return tubesum_error(request, translated)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return _problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Internal error; see the server log.")


exception_handlers: dict[Any, Any] = {
    TubesumError: tubesum_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    SQLAlchemyError: database_error,
    Exception: internal_error,
}
