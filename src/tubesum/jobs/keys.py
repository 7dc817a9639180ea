"""``SqlKeyStore``: the :class:`~tubesum.jobs.types.KeyStore` contract on SQLAlchemy.

A key reads ``tsk_<id>_<secret>``: ``id`` (16 hex digits) finds the row, and only the SHA-256 of ``secret``
(``secrets.token_urlsafe(32)``) is stored. Each key also has a webhook signing secret (``whsec_…``, see
:mod:`tubesum.jobs.webhooks`), stored as is because signing needs it. :class:`~tubesum.jobs.store.SqlJobStore`
holds one as ``store.keys`` (composition: the two share an engine, not a class).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from tubesum.jobs.db import for_writes
from tubesum.jobs.schema import ApiKeyRow
from tubesum.jobs.types import ApiKeyRecord
from tubesum.jobs.webhooks import new_secret

__all__ = ["KEY_PREFIX", "SqlKeyStore"]

KEY_PREFIX = "tsk_"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_MAX_TOKEN_LEN = 256
_MAX_NAME_LEN = 200
_DUMMY_HASH = hashlib.sha256(b"tubesum: no such key").hexdigest()  # compared against when the id is unknown


class SqlKeyStore:
    """API keys in a SQL database; safe to share between threads."""

    #: Seconds a verified key is trusted without reading the database again. Revocation through this object
    #: takes effect at once; through another process (the CLI, another replica) within this many seconds.
    verified_ttl: float = 5.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(for_writes(engine), expire_on_commit=False)
        self._verified: dict[str, tuple[float, ApiKeyRecord]] = {}  # sha256(token) -> (expiry, record)
        self._verified_lock = threading.Lock()

    def recently_verified(self, token: str) -> ApiKeyRecord | None:
        """Return the key for ``token`` if it was verified less than ``verified_ttl`` seconds ago (no I/O)."""
        entry = self._verified.get(_digest(token))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def create_key(self, name: str) -> tuple[ApiKeyRecord, str]:
        """Return the new key's record and its plaintext ``tsk_<id>_<secret>``: show it once, it is not stored."""
        name = name.strip()
        if not name or len(name) > _MAX_NAME_LEN:
            raise ValueError(f"a key name must have 1 to {_MAX_NAME_LEN} characters")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        row = ApiKeyRow(
            id=key_id,
            name=name,
            secret_hash=_hash_secret(secret),
            created_at=datetime.now(UTC),
            webhook_secret=new_secret(),
        )
        with self._write.begin() as s:
            s.add(row)
        return _key_record(row), f"{KEY_PREFIX}{key_id}_{secret}"

    def verify_key(self, token: str) -> ApiKeyRecord | None:
        """Return the active key for ``token``; None for a malformed, unknown, wrong or revoked one (never raises).

        The secret's hash is compared in constant time, against a dummy hash when the id is unknown, so the
        answer takes about as long either way.
        """
        parsed = _parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self._read.begin() as s:
            row = s.get(ApiKeyRow, key_id)
        matches = hmac.compare_digest(_hash_secret(secret), row.secret_hash if row is not None else _DUMMY_HASH)
        if row is None or not matches or row.revoked_at is not None:
            return None
        record = _key_record(row)
        with self._verified_lock:
            if len(self._verified) > 10_000:  # bounded: drop everything rather than grow without limit
                self._verified.clear()
            self._verified[_digest(token)] = (time.monotonic() + self.verified_ttl, record)
        return record

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key (revoking twice keeps the first time); False when there is no such key."""
        with self._write.begin() as s:
            row = s.get(ApiKeyRow, key_id, with_for_update=True)
            if row is None:
                return False
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
        with self._verified_lock:
            for digest, (_, record) in list(self._verified.items()):
                if record.id == key_id:
                    del self._verified[digest]
        return True

    def webhook_secret(self, key_id: str) -> str | None:
        """Return the key's webhook signing secret; None when the key does not exist or has none yet."""
        with self._read.begin() as s:
            return s.scalar(select(ApiKeyRow.webhook_secret).where(ApiKeyRow.id == key_id))

    def rotate_webhook_secret(self, key_id: str) -> str | None:
        """Give the key a new webhook secret (the old one stops signing at once) and return it; None: no such key."""
        with self._write.begin() as s:
            row = s.get(ApiKeyRow, key_id, with_for_update=True)
            if row is None:
                return None
            row.webhook_secret = new_secret()
            return row.webhook_secret

    def list_keys(self) -> list[ApiKeyRecord]:
        """Every key, oldest first, revoked ones included (never their hashes)."""
        with self._read.begin() as s:
            rows = s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)).all()
            return [_key_record(row) for row in rows]


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _key_record(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(id=row.id, name=row.name, created_at=row.created_at, revoked_at=row.revoked_at)


def _parse_token(token: object) -> tuple[str, str] | None:
    """Split ``tsk_<id>_<secret>`` into id and secret; None when it does not have that shape."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LEN or not token.startswith(KEY_PREFIX):
        return None
    key_id, _, secret = token[len(KEY_PREFIX) :].partition("_")
    if not _KEY_ID.fullmatch(key_id) or not secret:
        return None
    return key_id, secret


def _digest(token: str) -> str:
    """Key of the verified-key cache: the token itself is never kept in memory."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
