"""Engines for the job store: SQLite tuned for a small server, anything else (PostgreSQL) as SQLAlchemy builds it.

SQLite notes. WAL lets readers run beside the one writer; ``busy_timeout`` makes a writer wait for the lock
instead of failing at once. pysqlite's own transaction handling is switched off and the ``begin`` event emits
``BEGIN`` itself (the documented SQLAlchemy recipe), so a transaction can take the write lock up front with
``BEGIN IMMEDIATE``: use :func:`for_writes` for every transaction that reads and then writes (claim, create,
cancel, ...). Without it, two deferred transactions could read the same queued job, and in WAL mode the one that
tries to upgrade its read lock second fails with SQLITE_BUSY instead of waiting. With it, such transactions run
one at a time and each sees the previous one's commit, so one job can never be handed to two workers.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from tubesum.errors import DiskFullError, StoreUnavailableError, TubesumError

__all__ = ["STORE_RETRY_AFTER", "for_writes", "is_sqlite", "make_engine", "single_reads", "store_error"]

logger = logging.getLogger(__name__)

_BEGIN_OPTION = "tubesum_sqlite_begin_immediate"
_NO_BEGIN_OPTION = "tubesum_sqlite_no_begin"
_SQLITE_PRAGMAS = ("busy_timeout=10000", "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
STORE_RETRY_AFTER = 5  # seconds a client is told to wait when the store is unavailable (Retry-After)
_DISK_FULL = ("database or disk is full", "no space left on device", "disk full", "could not extend file")
_BUGS = ("no such table", "no such column", "syntax error", "undefinedtable", "undefinedcolumn")  # stay 500s
_READ_ONLY = ("readonly database", "read-only", "unable to open database file")


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; SQLite gets its directory created and the pragmas above.

    Other URLs (``postgresql+psycopg://...``) get ``pool_pre_ping`` so a restarted database server is survived.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True)
    else:
        database = parsed.database
        if database and database != ":memory:" and not parsed.query.get("uri"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    logger.debug("job store engine: %s", engine.url.render_as_string(hide_password=True))
    return engine


def for_writes(engine: Engine) -> Engine:
    """Return a view of ``engine`` whose SQLite transactions start with ``BEGIN IMMEDIATE`` (same pool).

    On other databases the option is ignored: row locks (``SELECT ... FOR UPDATE``) do that job there.
    """
    return engine.execution_options(**{_BEGIN_OPTION: True})


def is_sqlite(engine: Engine) -> bool:
    """Return whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own; _sqlite_on_begin does
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:  # busy_timeout first: switching to WAL may have to wait for a lock
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def single_reads(engine: Engine) -> Engine:
    """Return a view of ``engine`` for one-statement reads: SQLite runs them without ``BEGIN`` (same pool).

    A single SELECT is atomic on its own; skipping the extra ``BEGIN`` round trip makes status polling
    cheaper. Use it only where every statement may see its own snapshot. Ignored on other databases.
    """
    return engine.execution_options(**{_NO_BEGIN_OPTION: True})


def _sqlite_on_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get(_NO_BEGIN_OPTION):
        return  # autocommit: each statement is its own transaction (pysqlite's isolation_level is None)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_BEGIN_OPTION) else "BEGIN")


def store_error(exc: BaseException) -> TubesumError | None:
    """Translate a database error into the tubesum error a client should see; None when it is not the
    database's state but a bug (a constraint, a bad statement), which stays an internal error.

    * no space (SQLite ``SQLITE_FULL``, PostgreSQL "could not extend file", ``ENOSPC``) → ``disk_full`` (507);
    * locked past the busy timeout, connection refused or lost, pool exhausted, read-only file →
      ``store_unavailable`` (503, ``Retry-After``).
    """
    if not isinstance(exc, sa_exc.SQLAlchemyError):
        return None
    text = str(getattr(exc, "orig", None) or exc).lower()
    orig_errno = getattr(getattr(exc, "orig", None), "errno", None)
    if any(marker in text for marker in _DISK_FULL) or orig_errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            "No space left on the device holding the job database.",
            hint="Free some disk space on the data volume (or move TUBESUM_DATA_DIR), then retry.",
        )
    unavailable = isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    )
    if not unavailable or any(marker in text for marker in _BUGS):
        return None
    if any(marker in text for marker in _READ_ONLY):
        why = "is read-only"
    elif "locked" in text or "busy" in text:
        why = "is locked by another writer"
    else:
        why = "cannot be reached"
    return StoreUnavailableError(
        f"The job database {why}; try again shortly.",
        hint="Retry after the Retry-After delay; operators: check the database server and /readyz.",
        retry_after=STORE_RETRY_AFTER,
    )
