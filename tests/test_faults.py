"""Faults injected for real (issue 20): a SQLite write lock held by another connection, a file-size limit
standing in for a full disk, SIGKILL loops of a real server process. Each test takes seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from conftest import LoopbackServer
from databases import PostgresServer
from inprocess import client_for, migrated_store
from jobs_fakes import new_job, saved_transcript, wait_for
from tubesum import outputs, service
from tubesum.config import Settings
from tubesum.errors import DiskFullError
from tubesum.jobs.db import make_engine
from tubesum.jobs.executor import LocalExecutor
from tubesum.jobs.migrate import upgrade
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.types import JobState
from tubesum.pipeline.fetch import fetch_audio
from tubesum.pipeline.ingest import parse_source
from tubesum.records import Transcript

pytestmark = pytest.mark.usefixtures("loopback_dns_only")

SRC = Path(__file__).resolve().parents[1] / "src"


def sqlite_store(path: Path, *, busy_ms: int | None = None) -> SqlJobStore:
    """A migrated SQLite store at ``path``; ``busy_ms`` shortens the busy timeout so a held lock fails fast."""
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    if busy_ms is not None:

        @event.listens_for(engine, "connect")
        def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:  # runs after make_engine's pragmas
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy_ms}")

    return SqlJobStore(engine)


class WriteLock:
    """An exclusive SQLite lock held by another connection, as another process or a backup tool would."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.held = threading.Event()

    def take(self) -> None:
        self._conn.execute("BEGIN EXCLUSIVE")
        self.held.set()

    def release(self) -> None:
        self._conn.execute("ROLLBACK")
        self.held.clear()

    def close(self) -> None:
        self._conn.close()


def checkpointed_job(store: SqlJobStore, url: str, *, text: str) -> str:
    """A queued job whose transcript stage is already checkpointed (only render + outcome are left)."""
    job, _ = store.create(new_job(url, formats=("txt",)))
    assert store.claim(worker="earlier") is not None
    store.save_checkpoint(job.id, "transcript", saved_transcript(url, text=text, title="t", duration=2.0).to_dict())
    store.requeue_running()
    return job.id


def test_embedded_job_whose_outcome_cannot_be_recorded_is_requeued_once_the_lock_is_gone(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 1: the outcome write fails (SQLite locked past every retry); the job must not stay running."""
    db = tmp_path / "jobs.db"
    store = sqlite_store(db, busy_ms=50)
    job_id = checkpointed_job(store, "http://127.0.0.1:9/a.m4a", text="Recorded after the lock.")
    lock = WriteLock(db)
    real_render = outputs.render

    def render_then_lock(transcript: Transcript, fmt: Any, **kwargs: Any) -> bytes:
        if not lock.held.is_set() and store.get(job_id, checkpoint=False).attempts == 2:  # type: ignore[union-attr]
            lock.take()  # the first attempt here: the store is locked from now until the test releases it
        return real_render(transcript, fmt, **kwargs)

    monkeypatch.setattr(outputs, "render", render_then_lock)
    monkeypatch.setattr(service, "transcribe_source", lambda *a, **k: pytest.fail("the checkpoint must be used"))
    executor = LocalExecutor(
        store, settings.model_copy(update={"workers": 1}), poll_interval=0.1, watchdog_interval=0.2, store_retry_s=0.5
    )
    try:
        executor.start()
        wait_for(lambda: lock.held.is_set(), what="the job to reach render", timeout=20)
        wait_for(lambda: not executor.running_jobs(), what="the attempt to give up on the store", timeout=20)
        time.sleep(0.5)
        stuck = store.get(job_id, checkpoint=False)  # WAL: reads still work under the write lock
        assert stuck is not None and stuck.state == JobState.RUNNING
        lock.release()
        wait_for(
            lambda: (j := store.get(job_id, checkpoint=False)) is not None and j.state == JobState.SUCCEEDED,
            what="the job to be requeued and finish once the store accepts writes",
            timeout=20,
        )
        done = store.get(job_id, checkpoint=False)
        assert done is not None and done.attempts == 3
        txt = store.artifact(job_id, "txt")
        assert txt is not None and b"Recorded after the lock." in txt.data
    finally:
        if lock.held.is_set():
            lock.release()
        lock.close()
        executor.stop(grace=0)


def test_checkpoint_and_outcome_writes_survive_a_short_lock_without_losing_the_work(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 5: a lock held for ~1.5 s (longer than the busy timeout) is retried through, not thrown away."""
    db = tmp_path / "jobs.db"
    store = sqlite_store(db, busy_ms=50)
    job_id = checkpointed_job(store, "http://127.0.0.1:9/b.m4a", text="Kept through a short outage.")
    lock = WriteLock(db)
    real_render = outputs.render

    def render_then_lock_briefly(transcript: Transcript, fmt: Any, **kwargs: Any) -> bytes:
        if not lock.held.is_set():
            lock.take()
            threading.Timer(1.5, lock.release).start()
        return real_render(transcript, fmt, **kwargs)

    monkeypatch.setattr(outputs, "render", render_then_lock_briefly)
    executor = LocalExecutor(store, settings.model_copy(update={"workers": 1}), poll_interval=0.1, store_retry_s=10)
    try:
        executor.start()
        wait_for(
            lambda: (j := store.get(job_id, checkpoint=False)) is not None and j.state == JobState.SUCCEEDED,
            what="the job to finish after the lock",
            timeout=20,
        )
        done = store.get(job_id, checkpoint=False)
        assert done is not None and done.attempts == 2, "the outcome was retried, not the attempt"
    finally:
        time.sleep(0)  # the timer releases the lock
        wait_for(lambda: not lock.held.is_set(), what="the lock to be released", timeout=5)
        lock.close()
        executor.stop(grace=0)


SERVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tubesum.config import Settings
    from tubesum.jobs import runner
    from tubesum.jobs.db import make_engine
    from tubesum.jobs.executor import LocalExecutor
    from tubesum.jobs.store import SqlJobStore

    def transcribe_until_killed(job, **kwargs):  # stands in for a file that gets the server killed (OOM)
        print("transcribing", job.id, job.attempts, flush=True)
        time.sleep(600)

    runner._transcript_stage = transcribe_until_killed
    data = Path(sys.argv[1])
    settings = Settings(_env_file=None, data_dir=data, work_dir=data / "work", workers=1, job_retries=2)
    executor = LocalExecutor(SqlJobStore(make_engine(f"sqlite:///{data / 'jobs.db'}")), settings, poll_interval=0.1)
    executor.start()
    print("started", flush=True)
    time.sleep(600)
    """
)


def test_embedded_restart_fails_a_job_with_worker_lost_after_job_retries_kills(tmp_path: Path) -> None:
    """Item 2: SIGKILL the server during the same job again and again; it must not become a crash loop."""
    store = sqlite_store(tmp_path / "jobs.db")
    job, _ = store.create(new_job("http://127.0.0.1:9/kills-the-server.m4a"))
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", SERVER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
        )

    max_attempts = 3  # job_retries=2 in SERVER
    for attempt in range(1, max_attempts + 1):
        proc = start()
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline().split(), proc.stdout.readline().split()]  # either order
            assert ["transcribing", job.id, str(attempt)] in lines, lines
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    proc = start()
    try:
        wait_for(
            lambda: (j := store.get(job.id, checkpoint=False)) is not None and j.state.finished,
            what="the restarted server to give up on the job",
            timeout=30,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    lost = store.get(job.id, checkpoint=False)
    assert lost is not None and lost.state == JobState.FAILED and lost.error_code == "worker_lost", lost
    assert lost.attempts == max_attempts


# -- full disk (item 7, 8) -----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of the test's own, filled up with :func:`fill` (mounting needs root, as in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the tests as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, *, leave: int = 0) -> None:
    """Fill ``disk`` until ENOSPC, then free ``leave`` bytes."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 512)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))


def test_upload_to_a_full_disk_is_507_disk_full_and_leaves_nothing(settings: Settings, small_disk: Path) -> None:
    up = settings.model_copy(
        update={"data_dir": small_disk, "rate_limit_per_minute": 0, "uploads_enabled": True, "upload_max_mb": 8}
    )
    store = migrated_store(up)
    key = {"Authorization": f"Bearer {store.create_key('alice')[1]}", "Content-Type": "audio/wav"}
    fill(small_disk, leave=256 * 1024)
    with client_for(up, store) as client:
        response = client.post(
            "/v1/uploads", params={"filename": "talk.wav"}, content=b"\1" * (1024 * 1024), headers=key
        )
    assert response.status_code == 507, response.text
    assert response.json()["code"] == "disk_full"
    assert not any(up.upload_dir.glob("up_*")), "a refused upload leaves nothing behind"


def test_submit_with_the_sqlite_disk_full_is_507_disk_full(settings: Settings, small_disk: Path) -> None:
    up = settings.model_copy(update={"data_dir": small_disk, "rate_limit_per_minute": 0, "allow_generic_urls": True})
    store = migrated_store(up)
    key = {"Authorization": f"Bearer {store.create_key('alice')[1]}"}
    store.create(new_job("http://127.0.0.1:9/warm.m4a"))  # the WAL file exists; the next writes must grow it
    fill(small_disk)
    with client_for(up, store) as client:
        codes = set()
        for n in range(20):  # the WAL may still have a free frame or two
            response = client.post("/v1/jobs", json={"source": f"http://127.0.0.1:9/{n}.m4a" + "?x" * 400}, headers=key)
            codes.add((response.status_code, response.json().get("code")))
            if response.status_code != 201:
                break
    assert (507, "disk_full") in codes, codes
    assert all(status in (201, 507) for status, _ in codes), codes


def test_url_download_into_a_full_work_dir_fails_disk_full_at_once_not_network(
    settings: Settings, small_disk: Path, http_server: LoopbackServer
) -> None:
    (http_server.root / "talk.m4a").write_bytes(os.urandom(1024 * 1024))
    web = settings.model_copy(update={"work_dir": small_disk, "allow_generic_urls": True})
    fill(small_disk, leave=128 * 1024)
    with pytest.raises(DiskFullError):
        fetch_audio(parse_source(http_server.url("talk.m4a"), web), settings=web, workdir=small_disk / "job")
    assert not DiskFullError.transient


# -- database unavailable (items 9, 10) ----------------------------------------------------------------------
def test_sqlite_locked_past_the_busy_timeout_is_503_store_unavailable_and_readyz_fails(
    settings: Settings, tmp_path: Path
) -> None:
    api = settings.model_copy(update={"data_dir": tmp_path / "data", "rate_limit_per_minute": 0})
    upgrade(api.sqlalchemy_url)
    db = Path(api.sqlalchemy_url.removeprefix("sqlite:///"))
    store = sqlite_store(db, busy_ms=100)
    key = {"Authorization": f"Bearer {store.create_key('alice')[1]}"}
    lock = WriteLock(db)
    with client_for(api, store) as client:
        assert client.get("/v1/jobs", headers=key).status_code == 200
        assert client.get("/readyz").json()["checks"]["database"]["ok"] is True
        lock.take()
        try:
            refused = client.post("/v1/jobs", json={"source": "https://youtu.be/dQw4w9WgXcQ"}, headers=key)
            ready = client.get("/readyz")
        finally:
            lock.release()
            lock.close()
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "store_unavailable"
        assert int(refused.headers["Retry-After"]) > 0
        assert ready.status_code == 503 and "database" in ready.json()["failing"], ready.text
        accepted = client.post("/v1/jobs", json={"source": "https://youtu.be/dQw4w9WgXcQ"}, headers=key)
        assert accepted.status_code == 202, accepted.text


@pytest.mark.timeout(120)
def test_postgres_stopped_job_reads_are_503_with_retry_after_not_500(settings: Settings) -> None:
    pytest.importorskip("psycopg")
    pg = PostgresServer()
    pg.start()
    try:
        api = settings.model_copy(update={"database_url": pg.url, "rate_limit_per_minute": 0})
        store = migrated_store(api)
        key = {"Authorization": f"Bearer {store.create_key('alice')[1]}"}
        with client_for(api, store) as client:
            job = client.post("/v1/jobs", json={"source": "https://youtu.be/dQw4w9WgXcQ"}, headers=key).json()
            assert client.get(f"/v1/jobs/{job['id']}", headers=key).status_code == 200
            pg.stop()
            answers = [client.get(f"/v1/jobs/{job['id']}", headers=key) for _ in range(3)]
            assert [a.status_code for a in answers] == [503] * 3, answers[0].text
            assert {a.json()["code"] for a in answers} == {"store_unavailable"}
            assert all(int(a.headers["Retry-After"]) > 0 for a in answers)
            pg.start()
            wait_for(lambda: client.get(f"/v1/jobs/{job['id']}", headers=key).status_code == 200, what="recovery")
        store.engine.dispose()
    finally:
        pg.remove()


def test_serve_on_a_read_only_database_exits_with_one_line_naming_the_file_and_the_fix(
    settings: Settings, small_disk: Path
) -> None:
    upgrade(f"sqlite:///{small_disk / 'tubesum.db'}")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "TUBESUM_DATA_DIR": str(small_disk),
        "TUBESUM_PORT": "9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tubesum", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 8, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("{")]  # JSON log lines
    assert len(lines) == 2, done.stderr  # the CLI's error line and its hint
    assert lines[0].startswith("Error [store_unavailable]: Cannot write the job database")
    assert str(small_disk / "tubesum.db") in lines[0] and "writable" in lines[1], lines
    assert "Traceback" not in done.stderr + done.stdout


def test_docs_quote_the_takeover_time_the_saq_timers_give() -> None:
    """Item 12: the docs said "about one heartbeat window"; the timers give 0.75 to 1.5 (measured ~1.5)."""
    saq_executor = pytest.importorskip("tubesum.jobs.saq_executor")
    earliest, latest = saq_executor.takeover_seconds(60)
    assert (earliest, latest) == (45.0, 90.0)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "scale-out.md").read_text()
    assert f"between {earliest / 60:g} and {latest / 60:g} heartbeat windows" in docs
    assert f"{earliest:g}–{latest:g} s with the default 60 s" in docs
    assert "about one heartbeat window" not in docs


# -- single flight (item 6) ----------------------------------------------------------------------------------
def test_identical_jobs_in_flight_run_the_pipeline_once(
    settings: Settings, tmp_path: Path, http_server: LoopbackServer, make_media: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three identical submits on three workers: one transcription, the others follow it (stage ``follow``)."""
    shutil.copy(make_media("speech.m4a"), http_server.root / "speech.m4a")
    url = http_server.url("speech.m4a")
    store = sqlite_store(tmp_path / "jobs.db")
    runs: list[str] = []
    real = service.transcribe_source

    def counted(source: Any, **kwargs: Any) -> Transcript:
        runs.append(source.original)
        time.sleep(1.0)  # the leader is still running when the others are claimed
        return real(source, **kwargs)

    monkeypatch.setattr(service, "transcribe_source", counted)
    jobs = []
    for _ in range(3):
        new = new_job(url, formats=("txt",))
        jobs.append(store.create(replace(new, cache_key="same-media-same-options"))[0].id)
    web = settings.model_copy(update={"allow_generic_urls": True, "workers": 3})
    executor = LocalExecutor(store, web, poll_interval=0.1)
    try:
        executor.start()
        executor.notify()
        wait_for(
            lambda: all((j := store.get(i, checkpoint=False)) is not None and j.state.finished for i in jobs),
            what="the three jobs to finish",
        )
    finally:
        executor.stop(grace=0)
    assert runs == [url], "one transcription for three identical jobs"
    texts = set()
    for job_id in jobs:
        job = store.get(job_id, checkpoint=False)
        assert job is not None and job.state == JobState.SUCCEEDED
        txt = store.artifact(job_id, "txt")
        assert txt is not None
        texts.add(txt.data)
    assert len(texts) == 1


def test_a_schema_bug_stays_an_internal_error_not_store_unavailable() -> None:
    from sqlalchemy import create_engine, text

    from tubesum.jobs.db import store_error

    engine = create_engine("sqlite://")
    with pytest.raises(Exception) as caught, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_jobs_table"))
    assert store_error(caught.value) is None
