"""Back up and restore the job store: one file holding every job, artifact (the results) and API key.

Usage::

    info = backup.backup(settings.sqlalchemy_url, Path("tubesum-2024-06-01.db"))
    result = backup.restore(settings.sqlalchemy_url, Path("tubesum-2024-06-01.db"))   # refuses a live database

SQLite backups use the online backup API (:meth:`sqlite3.Connection.backup`): one consistent snapshot taken in a
single read transaction, so it is safe while the server writes (WAL lets the writer go on meanwhile). The copy is
switched to ``journal_mode=DELETE`` (a single self-contained file) and must pass ``PRAGMA integrity_check``.

PostgreSQL backups are ``pg_dump --format=custom`` archives, restored with ``pg_restore --clean --if-exists`` in
one transaction. The URL's parts travel to the client tools as ``PG*`` environment variables: the password is
never on a command line (where ``ps`` shows it) and never logged.

Only the database is saved: job results live in it. ``TUBESUM_OUTPUT_DIR`` (files ``tubesum transcribe`` writes)
and the model cache are not included; copy them with ordinary file tools when they matter.

A backup records its Alembic revision. Restoring one from a newer tubesum (a revision this code does not know)
is refused; one from an older schema is restored and then needs ``tubesum db upgrade``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, make_url

from tubesum.errors import BackupError
from tubesum.jobs.migrate import SCRIPT_LOCATION

__all__ = [
    "BackupError",
    "BackupInfo",
    "RestoreResult",
    "backup",
    "check_revision",
    "database_in_use",
    "inspect",
    "restore",
]

logger = logging.getLogger(__name__)

Kind = Literal["sqlite", "postgresql"]
SchemaStatus = Literal["current", "older"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PGDUMP_MAGIC = b"PGDMP"
_BUSY_TIMEOUT_MS = 10_000
# libpq settings that may sit in a SQLAlchemy URL's query string, and the environment variable for each.
_PG_QUERY_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds: which database kind and which schema revision (None: never migrated)."""

    path: Path
    kind: Kind
    revision: str | None
    size: int


@dataclass(frozen=True)
class RestoreResult:
    """The restored backup and how its schema compares with this code's (``older``: run ``db upgrade``)."""

    info: BackupInfo
    schema: SchemaStatus


def backup(url: str, out: Path, *, overwrite: bool = False) -> BackupInfo:
    """Write a consistent backup of the database at ``url`` to ``out`` (atomically: a temp file, then renamed)."""
    if out.exists() and not overwrite:
        raise BackupError(f"{out} exists; choose another name or overwrite it explicitly")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    kind = _kind(url)
    logger.info("backing up the job store", extra={"database": _display(url), "backup": str(out)})
    try:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_path(url), tmp)
        else:
            _pg_dump(url, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return inspect(out)


def inspect(path: Path) -> BackupInfo:
    """Read a backup file's kind and Alembic revision without restoring it."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    size = path.stat().st_size
    if head.startswith(_SQLITE_MAGIC):
        return BackupInfo(path, "sqlite", _sqlite_revision(path), size)
    if head.startswith(_PGDUMP_MAGIC):
        return BackupInfo(path, "postgresql", _pg_archive_revision(path), size)
    raise BackupError(f"{path} is neither a SQLite database nor a pg_dump custom-format archive")


def check_revision(revision: str | None) -> SchemaStatus:
    """Compare a backup's revision with this code's head; raise :class:`BackupError` for a newer/unknown one."""
    scripts = ScriptDirectory(str(SCRIPT_LOCATION))
    head = scripts.get_current_head()
    if revision == head:
        return "current"
    if revision is None:
        return "older"
    try:
        known = scripts.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(
            f"the backup is at schema revision {revision}, which this tubesum does not know (its newest is {head}):"
            " it comes from a newer tubesum. Restore it with that version, or upgrade tubesum first."
        )
    return "older"


def database_in_use(url: str) -> str | None:
    """Return why the database at ``url`` looks in use by another process (a running server), or None.

    SQLite: every open connection to a WAL database holds a shared lock on the ``-shm`` file's "dead man switch"
    byte, so a process that cannot lock that byte exclusively knows another one has the database open. Call this
    before this process opens the database itself: closing the probe's descriptor drops this process's own POSIX
    locks on the file. PostgreSQL: other sessions connected to the database (``pg_stat_activity``).
    """
    if _kind(url) == "sqlite":
        return _sqlite_in_use(_sqlite_path(url))
    return _pg_in_use(url)


def restore(url: str, path: Path, *, force: bool = False) -> RestoreResult:
    """Replace the contents of the database at ``url`` with the backup at ``path``.

    Refuses a backup of another database kind, one from a newer schema, and (unless ``force``) a database that
    another process has open. The restored database is checked (SQLite: ``integrity_check``).
    """
    info = inspect(path)
    kind = _kind(url)
    if info.kind != kind:
        raise BackupError(f"{path} is a {info.kind} backup; the job store is {kind} ({_display(url)})")
    schema = check_revision(info.revision)
    if not force:
        reason = database_in_use(url)
        if reason:
            raise BackupError(f"{reason}; stop the server first (or pass --force to restore anyway)")
    logger.info("restoring the job store", extra={"database": _display(url), "backup": str(path)})
    if kind == "sqlite":
        _sqlite_restore(path, _sqlite_path(url))
    else:
        _pg_restore(url, path)
    return RestoreResult(info, schema)


# --- SQLite -------------------------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("uri"):
        raise BackupError(f"cannot back up or restore {_display(url)}: not a SQLite database file")
    return Path(database).expanduser()


def _ro_uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _integrity(conn: sqlite3.Connection, what: str) -> None:
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    if rows != ["ok"]:
        raise BackupError(f"{what} failed PRAGMA integrity_check: {'; '.join(map(str, rows[:5]))}")


def _sqlite_backup(db_path: Path, tmp: Path) -> None:
    if not db_path.is_file():
        raise BackupError(f"no job store at {db_path} (nothing to back up)")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(db_path, timeout=_BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, i.e. one read transaction's snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
            _integrity(dst, "the backup")
        finally:
            dst.close()
    finally:
        src.close()


def _sqlite_revision(path: Path) -> str | None:
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True)
        try:
            _integrity(conn, str(path))
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise BackupError(f"cannot read {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a usable SQLite database: {exc}") from exc
    return str(row[0]) if row else None


def _sqlite_in_use(db_path: Path) -> str | None:
    shm = db_path.with_name(db_path.name + "-shm")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no cheap probe
        return None
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot check whether {db_path} is in use ({exc.strerror})"
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # 128: SQLite's UNIX_SHM_DMS byte
        except OSError:
            return f"{db_path} is open in another process (a running tubesum server or worker?)"
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, 128)
        return None
    finally:
        os.close(fd)


def _sqlite_restore(backup_path: Path, db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(_ro_uri(backup_path), uri=True)
    try:
        dst = sqlite3.connect(db_path, timeout=_BUSY_TIMEOUT_MS / 1000)
        try:
            dst.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            # Through SQLite, not a file copy: correct even with a -wal file and other connections present.
            src.backup(dst)
            _integrity(dst, "the restored database")
        finally:
            dst.close()
    finally:
        src.close()


# --- PostgreSQL ---------------------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} not found on PATH: install the PostgreSQL client tools, at least as new as the server"
            " (Debian/Ubuntu: apt install postgresql-client; the image's postgresql-client-NN for a newer server)"
        )
    return found


def _pg_env(url: str) -> tuple[dict[str, str], URL]:
    """Return the environment for libpq tools (password in PGPASSWORD) and the parsed URL."""
    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, var in _PG_QUERY_ENV.items():
        value = parsed.query.get(key)
        if isinstance(value, str):
            env[var] = value
    if parsed.host:
        env["PGHOST"] = parsed.host
    if parsed.port:
        env["PGPORT"] = str(parsed.port)
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    if parsed.database:
        env["PGDATABASE"] = parsed.database
    return env, parsed


def _scrub(text: str, url: str) -> str:
    password = make_url(url).password
    return text.replace(str(password), "***") if password else text


def _run_pg(url: str, args: list[str], *, what: str) -> str:
    env, _ = _pg_env(url)
    logger.debug("running %s", " ".join(args))  # never holds the password: it is in the environment only
    try:
        proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupError(f"cannot run {args[0]}: {exc.strerror}") from exc
    if proc.returncode != 0:
        raise BackupError(_pg_message(what, _scrub(proc.stderr.strip(), url)))
    return proc.stdout


def _pg_message(what: str, stderr: str) -> str:
    if "version mismatch" in stderr:
        server = re.search(r"server version:\s*([\d.]+)", stderr)
        client = re.search(r"pg_dump version:\s*([\d.]+)", stderr)
        return (
            f"{what} failed: pg_dump {client.group(1) if client else '?'} is older than the PostgreSQL server"
            f" {server.group(1) if server else '?'}; install a client at least as new as the server"
            " (e.g. postgresql-client-<major>) and put it first on PATH"
        )
    if "unsupported version" in stderr:
        return (
            f"{what} failed: this pg_restore is older than the pg_dump that wrote the archive; install a newer"
            f" PostgreSQL client ({stderr.splitlines()[-1] if stderr else 'unsupported archive version'})"
        )
    return f"{what} failed: {stderr or 'no error output'}"


def _pg_dump(url: str, tmp: Path) -> None:
    _run_pg(url, [_pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={tmp}"], what="pg_dump")


def _pg_archive_revision(path: Path) -> str | None:
    args = [_pg_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(path)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupError(f"cannot run pg_restore: {exc.strerror}") from exc
    if proc.returncode != 0:
        raise BackupError(_pg_message(f"reading {path}", proc.stderr.strip()))
    lines = iter(proc.stdout.splitlines())
    for line in lines:
        if line.startswith("COPY ") and "alembic_version" in line:
            value = next(lines, "\\.")
            return None if value == "\\." else value.strip()
    return None


def _pg_in_use(url: str) -> str | None:
    from tubesum.jobs.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar_one()
    finally:
        engine.dispose()
    if count:
        return f"{_display(url)} has {count} other open connection(s) (a running tubesum server or worker?)"
    return None


def _pg_restore(url: str, path: Path) -> None:
    _, parsed = _pg_env(url)
    if not parsed.database:
        raise BackupError(f"{_display(url)} names no database to restore into")
    args = [
        _pg_tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        "--no-password",
        f"--dbname={parsed.database}",
        str(path),
    ]
    _run_pg(url, args, what="pg_restore")


# --- shared -------------------------------------------------------------------------------------------------


def _kind(url: str) -> Kind:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise BackupError(f"backup and restore support SQLite and PostgreSQL, not {backend}")


def _display(url: str) -> str:
    with contextlib.suppress(Exception):
        return make_url(url).render_as_string(hide_password=True)
    return "<database>"  # pragma: no cover - only for an unparseable URL
