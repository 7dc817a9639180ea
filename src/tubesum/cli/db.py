"""``tubesum db upgrade|downgrade|current|backup|restore``: the job store's schema and backups; ``open_store``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.config import Settings

if TYPE_CHECKING:
    from tubesum.jobs.store import SqlJobStore

__all__ = ["database_errors", "db", "open_store"]


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn database and migration errors into a one-line CLI error (exit 1) instead of a traceback."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        yield
    except CommandError as exc:
        raise click.ClickException(f"Migration failed: {exc}") from exc
    except DBAPIError as exc:  # the driver's own message, without SQLAlchemy's statement dump
        raise click.ClickException(f"Database error: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(f"Database error: {exc}") from exc
    except OSError as exc:  # e.g. the SQLite directory cannot be created
        raise click.ClickException(f"Cannot open the database: {exc}") from exc


@contextmanager
def open_store(settings: Settings) -> Iterator[SqlJobStore]:
    """Migrate the job store to head (cheap when it is there already), open it, and close it afterwards."""
    from tubesum.jobs import migrate
    from tubesum.jobs.db import make_engine
    from tubesum.jobs.store import SqlJobStore

    url = settings.sqlalchemy_url
    with database_errors():
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            yield SqlJobStore(engine)
        finally:
            engine.dispose()


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """Manage the job store database (TUBESUM_DATABASE_URL; default: SQLite in TUBESUM_DATA_DIR).

    Other commands that use the database migrate it to the newest revision on their own.
    """


@db.command(name="upgrade")
@click.argument("revision", default="head")
@pass_app
def db_upgrade(app: AppContext, revision: str) -> None:
    """Migrate the database up to REVISION (default: head, the newest)."""
    from tubesum.jobs import migrate

    url = app.settings.sqlalchemy_url
    with database_errors():
        migrate.upgrade(url, revision)
        click.echo(f"{_display_url(url)}: at revision {migrate.current(url) or 'base'}")


@db.command(name="downgrade")
@click.argument("revision")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def db_downgrade(app: AppContext, revision: str, yes: bool) -> None:
    """Migrate the database down to REVISION ('base' drops every table: all jobs and keys are lost)."""
    from tubesum.jobs import migrate

    url = app.settings.sqlalchemy_url
    if not yes:
        click.confirm(f"Downgrade {_display_url(url)} to {revision}? Dropped data cannot be recovered.", abort=True)
    with database_errors():
        migrate.downgrade(url, revision)
        click.echo(f"{_display_url(url)}: at revision {migrate.current(url) or 'base'}")


@db.command(name="current")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def db_current(app: AppContext, as_json: bool) -> None:
    """Print the database's revision and the newest one this tubesum knows."""
    from tubesum.jobs import migrate

    url = app.settings.sqlalchemy_url
    with database_errors():
        revision, newest = migrate.current(url), migrate.head()
    if as_json:
        echo_json({"database": _display_url(url), "current": revision, "head": newest})
        return
    status = "up to date" if revision == newest else "needs `tubesum db upgrade`"
    click.echo(f"{_display_url(url)}: at revision {revision or 'base'} (head: {newest}, {status})")


@contextmanager
def _backup_errors() -> Iterator[None]:
    from tubesum.jobs.backup import BackupError

    with database_errors():
        try:
            yield
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc


@db.command(name="backup")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@pass_app
def db_backup(app: AppContext, out: Path, overwrite: bool) -> None:
    """Write a consistent backup of the job store to OUT; safe while the server runs.

    SQLite: a single database file (online backup API, then integrity_check). PostgreSQL: a pg_dump
    custom-format archive (needs pg_dump at least as new as the server). The backup holds every job, result
    (artifact) and API key; TUBESUM_OUTPUT_DIR and the model cache are not included.
    """
    from tubesum.jobs import backup

    url = app.settings.sqlalchemy_url
    with _backup_errors():
        info = backup.backup(url, out, overwrite=overwrite)
    click.echo(f"{_display_url(url)}: backed up revision {info.revision or 'base'} to {out} ({info.size} bytes)")


@db.command(name="restore")
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Restore even if another process (a running server) has it open.")
@click.option("--upgrade", is_flag=True, help="Migrate to the newest revision after restoring an older backup.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def db_restore(app: AppContext, backup_file: Path, force: bool, upgrade: bool, yes: bool) -> None:
    """Replace the job store's contents with BACKUP_FILE (from `tubesum db backup`).

    Stop the server first: a database in use is refused unless --force. A backup from a newer tubesum (an
    unknown schema revision) is refused; one from an older schema needs `tubesum db upgrade` (or --upgrade).
    """
    from tubesum.jobs import backup, migrate

    url = app.settings.sqlalchemy_url
    if not yes:
        click.confirm(f"Replace every job and key in {_display_url(url)} with {backup_file}?", abort=True)
    with _backup_errors():
        result = backup.restore(url, backup_file, force=force)
        revision = result.info.revision or "base"
        click.echo(f"{_display_url(url)}: restored {backup_file} (revision {revision})")
        if result.schema == "older":
            if upgrade:
                migrate.upgrade(url)
                click.echo(f"{_display_url(url)}: upgraded to revision {migrate.head()}")
            else:
                click.echo(
                    f"The backup's schema is older than this tubesum's ({migrate.head()}): run `tubesum db upgrade`."
                )
