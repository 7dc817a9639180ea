"""Run the job store's Alembic migrations from code: no alembic.ini, the scripts ship inside the package.

Usage::

    migrate.upgrade(settings.sqlalchemy_url)      # cheap when already at head: call it at every start
    migrate.current(url)                          # "0001", or None for an empty database

Each call runs in one transaction that holds the write lock (SQLite ``BEGIN IMMEDIATE``; a PostgreSQL
advisory lock), so several processes starting at once migrate the database once, one after the other.

On SQLite, migrations run with foreign keys off: batch migrations rebuild a table (copy, DROP, rename), and
dropping ``jobs`` with foreign keys on would cascade-delete every artifact. ``PRAGMA foreign_key_check`` runs
before the commit instead, so a migration that breaks a reference is rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from tubesum.jobs.db import for_writes, is_sqlite, make_engine

__all__ = ["current", "downgrade", "head", "upgrade"]

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x7475_6265_7375_6D  # "tubesum": serialises concurrent migrations on PostgreSQL


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    return cfg


def head() -> str:
    """Return the newest revision the installed package knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships a first revision
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return revision


def current(url: str) -> str | None:
    """Return the database's revision, or None when it has never been migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: the newest); a no-op when already there."""
    with _locked(url) as conn:
        if revision == "head" and MigrationContext.configure(conn).get_current_revision() == head():
            return
        logger.info("migrating the job store up to %s", revision)
        _run(conn, "upgrade", revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops every table: all jobs are lost)."""
    with _locked(url) as conn:
        logger.info("migrating the job store down to %s", revision)
        _run(conn, "downgrade", revision)


def _run(conn: Connection, direction: str, revision: str) -> None:
    cfg = _config()
    cfg.attributes["connection"] = conn
    if direction == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)
    if conn.dialect.name == "sqlite":
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migration to {revision} broke foreign keys: {broken[:5]}")


@contextmanager
def _locked(url: str) -> Iterator[Connection]:
    engine = make_engine(url)
    if is_sqlite(engine):  # runs after make_engine's own connect hook, so it wins
        event.listen(engine, "connect", _foreign_keys_off)
    try:
        with for_writes(engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield conn
    finally:
        engine.dispose()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # only takes effect outside a transaction: here
