"""Request context: a request id on every log line and response, security headers, an access log without IPs."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tubesum.errors import TubesumError

__all__ = ["SECURITY_HEADERS", "EdgeErrorMiddleware", "RequestContextMiddleware"]

logger = logging.getLogger("tubesum.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# The OpenAPI docs page loads its own scripts and styles.
_DOCS_CSP = "default-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com; img-src 'self' data: https:"


class RequestContextMiddleware:
    """ASGI middleware: ``X-Request-ID`` (kept from the client when well-formed), headers, one log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        path: str = scope["path"]
        started = time.perf_counter()
        status: dict[str, int] = {}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = MutableScopeHeaders(message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if path.startswith("/schema"):
                    headers["Content-Security-Policy"] = _DOCS_CSP
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                extra: dict[str, Any] = {
                    "method": scope.get("method"),
                    "path": path,
                    "status": status.get("code", 500),
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                }
                logger.info("request", extra=extra)


class EdgeErrorMiddleware:
    """Answer errors raised by the middleware inside it (authentication 401, rate limit 429) right here.

    Litestar turns such exceptions into responses only in its outermost layer, after the access log and the
    request metrics have seen an exception instead of a status: they recorded 401s and 429s as 500 (and the
    failure-rate alert fired). Placed inside both, this middleware sends the problem+json response itself, so
    they record the status the client gets.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started: dict[str, bool] = {}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["yes"] = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except (HTTPException, TubesumError) as exc:
            if started:
                raise
            from litestar import Request

            from tubesum.api.errors import http_error, tubesum_error

            request: Request[Any, Any, Any] = Request(scope, receive)
            response = http_error(request, exc) if isinstance(exc, HTTPException) else tubesum_error(request, exc)
            await response.to_asgi_response(None, request)(scope, receive, send)
