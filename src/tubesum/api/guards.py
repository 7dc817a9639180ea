"""Checks every request passes before its handler runs: same-site writes, JSON bodies that parse safely.

* **Cross-site writes** (CSRF): a browser page on another site can make a user's browser POST to a tubesum
  server on ``127.0.0.1`` (``scripts/demo --serve`` runs without keys). A state-changing request
  (POST, PUT, PATCH, DELETE) that a browser marks as cross-site (``Sec-Fetch-Site: cross-site|same-site``) or
  whose ``Origin`` is neither this server nor one of ``cors_origins`` is refused with 403 ``cross_site``.
  Clients that are not browsers send neither header and are not affected.
* **JSON bodies**: a handler that takes a JSON body gets one only as ``application/json`` (a form or
  ``text/plain`` body is what a cross-site page can send without a preflight: 415), in valid UTF-8 and nested
  at most :data:`MAX_JSON_DEPTH` deep (400 ``invalid_body``) — the parser's recursion limit is never reached,
  so such a body is a client error with one access-log line, not a 500 with a traceback.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from tubesum.api.deps import services_of
from tubesum.errors import TubesumError, UnsupportedMediaError

__all__ = ["MAX_JSON_DEPTH", "CrossSiteRequestError", "InvalidBodyError", "check_request", "json_depth"]

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays/objects accepted in a JSON body (tubesum's own bodies are 3 deep)."""

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


class CrossSiteRequestError(TubesumError):
    """A browser sent a state-changing request from another site."""

    code = "cross_site"
    http_status = 403


class InvalidBodyError(TubesumError):
    """The request body cannot be read as JSON safely (not UTF-8, nested too deep)."""

    code = "invalid_body"
    http_status = 400


def json_depth(body: bytes) -> int:
    """Return how deep arrays/objects nest in ``body`` (strings skipped), without parsing it. Linear time."""
    depth = deepest = 0
    for byte in _STRING.sub(b'""', body):
        if byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


async def check_request(request: Request[Any, Any, Any]) -> None:
    """Litestar ``before_request`` hook: refuse cross-site writes and unsafe JSON bodies (see module docstring)."""
    if request.method not in _WRITES:
        return
    _check_same_site(request)
    if "data" not in request.route_handler.parsed_fn_signature.parameters:
        return  # no JSON body expected (uploads stream raw media and check their own type)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaError(
            "The request body must be JSON.", hint="Send it with Content-Type: application/json."
        )
    body = await request.body()  # cached by Litestar: the handler's parser reads it from there
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBodyError("The request body is not valid UTF-8.") from None
    if json_depth(body) > MAX_JSON_DEPTH:
        raise InvalidBodyError(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")


def _check_same_site(request: Request[Any, Any, Any]) -> None:
    origin = request.headers.get("origin", "").strip()
    allowed: tuple[str, ...] = services_of(request).settings.cors_origins
    if origin and origin.lower() in allowed:
        return
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site in ("cross-site", "same-site"):
        raise _cross_site()
    if origin and origin != "null":
        # Host names only: a proxy may pass Host without the port (nginx's $host) while Origin has it.
        if _hostname(origin) != _hostname("//" + request.headers.get("host", "")):
            raise _cross_site()
    elif origin == "null":  # sandboxed frames, file:// pages, some redirects: never this server's own page
        raise _cross_site()


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _cross_site() -> CrossSiteRequestError:
    return CrossSiteRequestError(
        "Requests from other web sites may not change anything here.",
        hint="Use the server's own page, an API client, or add the site to TUBESUM_CORS_ORIGINS.",
    )
