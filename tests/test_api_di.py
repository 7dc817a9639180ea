"""API wiring: handlers get settings, the store and an ``Executor`` by Litestar dependency injection; both
executors implement the protocol; the job store composes the key store; readiness runs doctor's checks."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from inprocess import migrated_store
from tubesum import doctor
from tubesum.api.app import create_app
from tubesum.api.deps import ApiServices
from tubesum.config import Settings
from tubesum.jobs.executor import LocalExecutor
from tubesum.jobs.keys import SqlKeyStore
from tubesum.jobs.saq_executor import SaqExecutor
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.types import Executor, JobState, KeyStore
from tubesum.metrics import QueueStats

pytestmark = pytest.mark.usefixtures("loopback_dns_only")

_MEMBERS = ("alive", "start", "stop", "notify", "cancel", "running_jobs", "queue_stats", "queue_ok")


class RecordingExecutor:
    """An Executor that runs nothing and remembers what the API asked of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.started = False

    @property
    def alive(self) -> bool:
        return self.started

    def start(self) -> None:
        self.started = True

    def stop(self, grace: float | None = None) -> None:
        self.calls.append(("stop", grace))
        self.started = False

    def notify(self) -> None:
        self.calls.append(("notify", None))

    def cancel(self, job_id: str) -> bool:
        self.calls.append(("cancel", job_id))
        return True

    def running_jobs(self) -> list[str]:
        return []

    def queue_stats(self) -> list[QueueStats]:
        return [QueueStats(queue="test", queued=0, active=0, workers=1)]

    def queue_ok(self) -> tuple[bool, str] | None:
        return False, "queue server down (test)"


@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "db", "rate_limit_per_minute": 0})


@pytest.fixture
def store(api_settings: Settings) -> SqlJobStore:
    return migrated_store(api_settings)


@pytest.fixture
def executor() -> RecordingExecutor:
    return RecordingExecutor()


@pytest.fixture
def client(api_settings: Settings, store: SqlJobStore, executor: RecordingExecutor) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(api_settings, store=store, executor=executor)) as c:
        yield c


@pytest.mark.parametrize("cls", [LocalExecutor, SaqExecutor, RecordingExecutor])
def test_both_executors_implement_the_protocol_with_its_signatures(cls: type[Any]) -> None:
    for name in _MEMBERS:
        ours, theirs = getattr(Executor, name), getattr(cls, name)
        if isinstance(ours, property):
            assert isinstance(theirs, property), f"{cls.__name__}.{name} is not a property"
            continue
        assert list(inspect.signature(theirs).parameters) == list(inspect.signature(ours).parameters), name


def test_the_injected_executor_is_started_notified_cancelled_and_stopped(
    api_settings: Settings, store: SqlJobStore, executor: RecordingExecutor
) -> None:
    _, token = store.create_key("alice")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app=create_app(api_settings, store=store, executor=executor)) as c:
        assert executor.started
        created = c.post("/v1/jobs", json={"source": "https://youtu.be/dQw4w9WgXcQ"}, headers=headers)
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert executor.calls == [("notify", None)]
        cancelled = c.delete(f"/v1/jobs/{job_id}", headers=headers)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == JobState.CANCELLED.value
        assert executor.calls[-1] == ("cancel", job_id)
    assert executor.calls[-1] == ("stop", None) and not executor.started


def test_readiness_reports_the_executor_and_its_queue(client: TestClient[Any]) -> None:
    body = client.get("/readyz").json()
    assert body["checks"]["worker"] == {"ok": True, "detail": "running"}
    assert body["checks"]["queue"] == {"ok": False, "detail": "queue server down (test)"}
    assert body["failing"] == ["queue"]


def test_readiness_runs_doctors_checks(client: TestClient[Any], api_settings: Settings) -> None:
    shared = {check.name for check in doctor.readiness_checks(api_settings)}
    assert {"work_dir", "data_dir", "model", "js_runtime"} <= shared
    assert shared <= set(client.get("/readyz").json()["checks"])


def test_app_state_holds_no_callables_only_the_typed_services(client: TestClient[Any]) -> None:
    state = dict(client.app.state)
    assert list(state) == ["services"]
    services = state["services"]
    assert isinstance(services, ApiServices) and isinstance(services.executor, RecordingExecutor)
    assert client.app.dependencies.keys() >= {"settings", "store", "executor"}


def test_without_a_worker_the_api_injects_no_executor(api_settings: Settings, store: SqlJobStore) -> None:
    _, token = store.create_key("alice")
    with TestClient(app=create_app(api_settings, store=store, worker=False)) as c:
        services: ApiServices = c.app.state["services"]
        assert services.executor is None
        created = c.post("/v1/jobs", json={"source": "https://youtu.be/dQw4w9WgXcQ"}, headers={"X-API-Key": token})
        assert created.status_code == 202
        assert "worker" not in c.get("/readyz").json()["checks"]


def test_the_job_store_composes_a_key_store_instead_of_inheriting(store: SqlJobStore) -> None:
    assert not issubclass(SqlJobStore, SqlKeyStore)
    assert isinstance(store.keys, SqlKeyStore) and store.keys.engine is store.engine
    assert isinstance(store, KeyStore)  # it still answers the key contract, by handing on
    record, token = store.create_key("bob")
    assert store.keys.verify_key(token) == record and store.list_keys() == [record]
