"""Webhooks as Standard Webhooks (https://www.standardwebhooks.com) specifies: secrets, signatures, retry policy.

When a job with a ``callback_url`` ends (succeeded, failed, cancelled; a cache hit too) tubesum POSTs the job
(the JSON of ``GET /v1/jobs/{id}``) to that URL with three headers::

    webhook-id: msg_<job id>                  # the same on every retry: receivers deduplicate on it
    webhook-timestamp: 1767225600             # seconds since the epoch, at this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" with the secret's bytes>

The secret reads ``whsec_<base64 of 32 random bytes>``: each API key has its own (``tubesum keys
webhook-secret KEY_ID``); without API keys (``TUBESUM_AUTH_DISABLED``) the server-wide
``TUBESUM_WEBHOOK_SECRET`` signs. Receivers verify with the ``standardwebhooks`` package (docs/webhooks.md).

This module is pure (no I/O but DNS in :func:`check_callback_url`); :mod:`tubesum.jobs.webhook_sender` sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tubesum.errors import InvalidCallbackUrlError, InvalidUrlError, UnsafeUrlError, WebhookSecretMissingError
from tubesum.pipeline.ssrf import check_url

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = [
    "ANONYMOUS_OWNER",
    "SECRET_PREFIX",
    "WAKE_HOOKS",
    "InvalidCallbackUrlError",
    "RetryPolicy",
    "WebhookSecretMissingError",
    "check_callback_url",
    "check_webhook",
    "message_id",
    "new_secret",
    "retryable",
    "secret_bytes",
    "sign",
    "signed_headers",
    "signing_secret",
    "wake_all",
]

WAKE_HOOKS: set[Callable[[], None]] = set()  # this process's running senders (WebhookSender.wake)
ANONYMOUS_OWNER = "anonymous"  # the owner of every job when the API runs without keys (tubesum.api.auth)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix Standard Webhooks gives secrets, not a secret
_SECRET_BYTES = 32


def wake_all() -> None:
    """Tell this process's webhook senders that a job just ended: they look for due webhooks now."""
    for wake in list(WAKE_HOOKS):
        wake()


def new_secret() -> str:
    """Return a fresh ``whsec_<base64>`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_<base64>`` secret; ValueError when it has another shape."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if len(key) < 24:  # Standard Webhooks: between 24 and 64 bytes
        raise ValueError("a webhook secret needs at least 24 random bytes")
    return key


def message_id(job_id: str) -> str:
    """The ``webhook-id`` of a job's webhook: one message per job, the same on every attempt."""
    return f"msg_{job_id}"


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type, for one attempt."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


def check_callback_url(url: str, *, settings: Settings) -> str:
    """Return ``url`` stripped, or raise :class:`InvalidCallbackUrlError` when the SSRF guard refuses it.

    Same rules as a source URL (http/https, no user info, only public addresses unless the test-only
    ``allow_private_addresses``). A host that does not resolve *now* is accepted: DNS can fail for a moment,
    and every delivery attempt runs the guard again.
    """
    from tubesum.errors import NetworkError

    url = url.strip()
    try:
        check_url(url, allow_private=settings.allow_private_addresses)
    except (UnsafeUrlError, InvalidUrlError) as exc:
        raise InvalidCallbackUrlError(f"callback_url refused: {exc.message}", hint=exc.hint) from None
    except NetworkError:
        pass
    return url


def signing_secret(owner: str, *, store: object, settings: Settings) -> str | None:
    """Return the secret that signs ``owner``'s webhooks: the API key's, or ``TUBESUM_WEBHOOK_SECRET`` for the
    anonymous owner (no API keys); None when there is none. ``store`` is a key store with ``webhook_secret``."""
    lookup = getattr(store, "webhook_secret", None)
    secret: str | None = lookup(owner) if lookup is not None and owner != ANONYMOUS_OWNER else None
    if secret is None and owner == ANONYMOUS_OWNER and settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
    return secret


def check_webhook(url: str, *, owner: str, store: object, settings: Settings) -> str:
    """Validate a job's ``callback_url`` at submit time: the SSRF guard's rules, and a secret to sign with."""
    url = check_callback_url(url, settings=settings)
    if signing_secret(owner, store=store, settings=settings) is None:
        if owner == ANONYMOUS_OWNER:
            raise WebhookSecretMissingError(
                "This server has no webhook secret.",
                hint="The operator sets TUBESUM_WEBHOOK_SECRET to a whsec_ secret.",
            )
        raise WebhookSecretMissingError(
            "Your API key has no webhook secret yet.",
            hint="Ask the operator to run `tubesum keys webhook-secret KEY_ID --rotate` and give you the secret.",
        )
    return url


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and when a failed delivery is tried again: ``first_delay * factor ** (attempt - 1)`` seconds.

    The defaults (5 attempts, 10 s, ×3) spread retries over about 7 minutes: 10 s, 30 s, 90 s, 270 s.
    """

    max_attempts: int = 5
    first_delay: float = 10.0
    factor: float = 3.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_attempts=settings.webhook_max_attempts, first_delay=settings.webhook_retry_seconds)

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based); None when it was the last."""
        if attempt >= self.max_attempts:
            return None
        return float(self.first_delay * self.factor ** (attempt - 1))


def retryable(status_code: int | None) -> bool:
    """Whether an attempt that ended like this is worth repeating: network errors, 5xx, 408 and 429.

    A redirect (3xx) is not followed and not retried (it would answer the same); other 4xx mean the receiver
    refuses this message.
    """
    if status_code is None:
        return True
    return status_code >= 500 or status_code in (408, 429)
