"""The API app in-process for tests: a migrated SQLite job store in the settings' data dir and a TestClient."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tubesum.api.app import create_app
from tubesum.config import Settings
from tubesum.jobs.db import make_engine
from tubesum.jobs.migrate import upgrade
from tubesum.jobs.store import SqlJobStore


def migrated_store(settings: Settings) -> SqlJobStore:
    """Return a job store on ``settings.sqlalchemy_url``, migrated to the latest schema."""
    upgrade(settings.sqlalchemy_url)
    return SqlJobStore(make_engine(settings.sqlalchemy_url))


def client_for(settings: Settings, store: SqlJobStore) -> TestClient[Any]:
    """Return a TestClient of the app over ``store``, without a worker (jobs stay queued)."""
    return TestClient(app=create_app(settings, store=store, worker=False))
