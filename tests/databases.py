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


class PostgresServer:
    """A PostgreSQL server of the test's own (initdb in a temp dir, loopback port) that it may stop and start.

    For tests that take the database away (the shared ``TEST_POSTGRES_URL`` server must stay up for the others).
    As root the server runs as the ``postgres`` user, like scripts/with-test-services.
    """

    def __init__(self) -> None:
        import shutil
        import socket
        import subprocess
        import tempfile

        ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not ctl:
            pytest.skip("PostgreSQL server binaries are not installed (apt install postgresql)")
        self._bin = ctl[-1].parent
        self._dir = Path(tempfile.mkdtemp(prefix="tubesum-test-pg-"))
        self._as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if self._as_pg:
            shutil.chown(self._dir, "postgres")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._run = subprocess.run
        self._run([*self._as_pg, str(self._bin / "initdb"), "-D", str(self._dir / "data"), "-A", "trust", "-U",
                   "postgres"], check=True, capture_output=True)  # fmt: skip
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._dir}"
        self._ctl("start", "-w", "-l", str(self._dir / "log"), "-o", options)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast", "-w")

    def remove(self) -> None:
        import shutil

        self._ctl("stop", "-m", "immediate", check=False)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _ctl(self, *args: str, check: bool = True) -> None:
        self._run([*self._as_pg, str(self._bin / "pg_ctl"), "-D", str(self._dir / "data"), *args],
                  check=check, capture_output=True)  # fmt: skip
