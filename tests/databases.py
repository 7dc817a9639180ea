"""Fresh job-store databases for tests: SQLite always; PostgreSQL too when ``TEST_POSTGRES_URL`` is set.

``TEST_POSTGRES_URL`` names any database on a server the tests may create databases on, for example
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``; each test gets its own database, dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database of ``backend`` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'jobs.db'}"
        return
    if importlib.util.find_spec("psycopg") is None:
        pytest.fail("TEST_POSTGRES_URL is set but psycopg is not installed (pip install 'psycopg[binary]')")
    name = f"tubesum_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
