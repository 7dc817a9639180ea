"""``tubesum db upgrade|downgrade|current``: the job store's schema migrations; ``open_store`` for other groups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
