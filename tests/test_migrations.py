"""The Alembic migrations shipped in the package: they run from code, round-trip, and match schema.py exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Text, inspect, text

from databases import BACKENDS, fresh_database
from tubesum.jobs import migrate
from tubesum.jobs.db import make_engine
from tubesum.jobs.schema import Base

TABLES = {"alembic_version", "api_keys", "artifacts", "jobs", "webhook_deliveries"}


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_diff(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_creates_the_schema_and_is_idempotent(db_url: str) -> None:
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head() == "0002"
    assert tables(db_url) == TABLES
    migrate.upgrade(db_url)  # already at head: nothing happens
    assert migrate.current(db_url) == "0002"


def test_upgrade_downgrade_upgrade_round_trip(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None and tables(db_url) == {"alembic_version"}
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head() and tables(db_url) == TABLES
    assert schema_diff(db_url) == []


def test_migrations_match_the_models_exactly(db_url: str) -> None:
    """Autogenerate finds nothing to do: schema.py and migrations/versions/ describe the same database."""
    migrate.upgrade(db_url)
    assert schema_diff(db_url) == []


def test_the_schema_diff_does_notice_drift(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_jobs_claim"))
        conn.execute(text("ALTER TABLE api_keys ADD COLUMN note TEXT"))
    engine.dispose()
    kinds = sorted(str(change[0]) for change in schema_diff(db_url))
    assert kinds == ["add_index", "remove_column"]


def test_rebuilding_a_table_keeps_the_rows_that_reference_it(db_url: str) -> None:
    """SQLite batch migrations drop and recreate tables: with foreign keys on, that would cascade-delete."""
    if not db_url.startswith("sqlite"):
        pytest.skip("batch table rebuilds are how SQLite alters tables")
    from alembic.operations import Operations

    from tubesum.jobs.store import SqlJobStore
    from tubesum.jobs.types import JobOptions, NewJob
    from tubesum.records import Rendered

    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    store = SqlJobStore(engine)
    options = JobOptions.model_validate({})
    job, _ = store.create(NewJob(owner="a", source="s", source_key="k", options=options, cache_key="c"))
    store.claim(worker="w")
    store.succeed(job.id, artifacts=[Rendered("txt", "text/plain", "t.txt", b"x")], audio_seconds=1, title=None)
    with migrate._locked(db_url) as conn:  # the connection migrations run on
        ops = Operations(MigrationContext.configure(conn))
        with ops.batch_alter_table("jobs", recreate="always") as batch:
            batch.alter_column("title", existing_type=Text(), nullable=True)
    artifact = store.artifact(job.id, "txt")
    engine.dispose()
    assert artifact is not None and artifact.data == b"x"


def test_concurrent_upgrades_migrate_once(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: migrate.upgrade(db_url), range(4)))
    assert migrate.current(db_url) == migrate.head() and tables(db_url) == TABLES


def test_unknown_revision_is_an_error(db_url: str) -> None:
    from alembic.util.exc import CommandError

    with pytest.raises(CommandError):
        migrate.upgrade(db_url, "9999")
