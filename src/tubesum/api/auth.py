"""API-key authentication: ``Authorization: Bearer tsk_…`` or ``X-API-Key: tsk_…``.

Keys are stored hashed and compared in constant time by the key store. With ``auth_disabled`` every request
acts as the ``anonymous`` owner.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from tubesum.api.deps import services_of

__all__ = ["ANONYMOUS", "PUBLIC_PATHS", "ApiKeyMiddleware", "address_of", "owner_of"]

ANONYMOUS = "anonymous"
PUBLIC_PATHS = ["^/healthz$", "^/readyz$", "^/metrics", "^/schema"]


def _token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Return the one key the request carries; two different keys (Bearer and X-API-Key) are refused."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else ""
    key = connection.headers.get("x-api-key", "").strip()
    if bearer and key and bearer != key:
        raise NotAuthorizedException("Two different API keys were sent; send one (Bearer or X-API-Key).")
    return bearer or key or None


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        services = services_of(connection)
        if services.settings.auth_disabled:
            return AuthenticationResult(user=ANONYMOUS, auth=None)
        token = _token(connection)
        if token is None:
            raise NotAuthorizedException("An API key is required (Authorization: Bearer <key> or X-API-Key).")
        keys = services.key_store()
        record = keys.recently_verified(token)
        if record is None:  # a database read: off the event loop, so a slow database stalls nothing else
            record = await anyio.to_thread.run_sync(keys.verify_key, token)
        if record is None:
            raise NotAuthorizedException("The API key is invalid or revoked.")
        return AuthenticationResult(user=record.id, auth=record)


def owner_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Return the owner id for rate limits: the key, or the client's address on public paths (no shared bucket)."""
    user = connection.scope.get("user")
    return user if isinstance(user, str) else f"address:{address_of(connection)}"


def address_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Return the client's address (uvicorn puts the forwarded one here for trusted proxies only)."""
    client = connection.scope.get("client")
    return str(client[0]) if client else "unknown"
