"""Alembic environment of the job store, run only through :mod:`tubesum.jobs.migrate` (no alembic.ini).

The caller hands over an open connection in ``config.attributes["connection"]`` (online mode) or a URL in
``config.attributes["url"]`` (offline ``--sql`` mode); nothing is read from the environment.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from tubesum.jobs.schema import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render :class:`UtcDateTime` as the plain portable type: migrations must not import application code."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run_offline() -> None:
    context.configure(
        url=config.attributes["url"],
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,  # SQLite alters tables by copying them
        transactional_ddl=True if sqlite else None,  # tubesum.jobs.db emits SQLite's BEGIN itself: DDL rolls back
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online(config.attributes["connection"])
