"""The SAQ executor end to end: real PostgreSQL (job store and queue) or Redis (queue), real `tubesum worker`s.

Needs ``TEST_POSTGRES_URL`` (and ``TEST_REDIS_URL`` for the Redis variant), which .ci/run exports; skipped
otherwise. Jobs are submitted through the API app (Litestar TestClient, ``worker=False``) and dispatched by the
API-side :class:`~tubesum.jobs.saq_executor.SaqExecutor` or the workers' own dispatchers; two worker processes
run them with the tiny.en model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from databases import POSTGRES_URL, PostgresServer, fresh_database
from jobs_fakes import make_long_speech
from servers import make_server, wait_for
from tubesum.api.app import create_app
from tubesum.cli.worker import child_commands, run_children
from tubesum.config import Settings
from tubesum.errors import ConfigError
from tubesum.jobs.db import make_engine
from tubesum.jobs.migrate import upgrade
from tubesum.jobs.saq_executor import QUEUE_NAMES, Dispatcher, SaqExecutor, make_queue, queue_name_for, queue_url
from tubesum.jobs.schema import JobRow
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.types import JobOptions, JobRecord, JobState

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
HEARTBEAT = 5  # seconds: a killed worker's job is swept and retried after about this long (+ sweep interval)
FORMATS = ["txt", "srt", "json"]

needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)"
)
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set (.ci/run starts redis-server)")


# -- units ---------------------------------------------------------------------------------------------------
def test_queue_url_needs_a_server(settings: Settings) -> None:
    with pytest.raises(ConfigError):
        queue_url(settings.model_copy(update={"queue": "saq"}))
    assert queue_url(settings.model_copy(update={"queue_url": "redis://127.0.0.1:1/0"})) == "redis://127.0.0.1:1/0"
    pg = settings.model_copy(update={"database_url": "postgresql+psycopg://u:p@127.0.0.1:5/db"})
    assert queue_url(pg) == "postgresql://u:p@127.0.0.1:5/db"


def test_gpus_start_one_child_per_device(tmp_path: Path) -> None:
    commands = child_commands(["0", "1"], queue="gpu", concurrency=2)
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in commands] == ["0", "1"]
    # ids are nvidia-smi's: CUDA must count in PCI bus order too, as NVML (GPU admission) does
    assert all(env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" for _, env in commands)
    assert all(argv[-4:] == ["--queue", "gpu", "--concurrency", "2"] for argv, _ in commands)
    # The fan-out itself, with a fake worker: each child records the device it was given.
    probe = "import os, sys; open(sys.argv[1] + os.environ['CUDA_VISIBLE_DEVICES'], 'w').close()"
    fake = [([sys.executable, "-c", probe, str(tmp_path / "gpu-")], env) for _, env in commands]
    assert run_children(fake) == 0
    assert sorted(p.name for p in tmp_path.glob("gpu-*")) == ["gpu-0", "gpu-1"]


def test_routing(settings: Settings) -> None:
    now = datetime.now(UTC)
    job = JobRecord("j", "o", JobState.QUEUED, "s", "k", JobOptions(), "c", now, now)
    assert queue_name_for(job, settings) == "cpu"  # the test settings run on CPU
    gpu = settings.model_copy(update={"device": "auto"})
    assert queue_name_for(job, gpu) == "gpu"
    captions = JobRecord("j", "o", JobState.QUEUED, "s", "k", JobOptions(captions="only"), "c", now, now)
    assert queue_name_for(captions, gpu) == "cpu"


# -- the whole flow ------------------------------------------------------------------------------------------
class Cluster:
    """Worker processes plus the API app, sharing one PostgreSQL job store."""

    def __init__(self, tmp_path: Path, db_url: str, queue: str) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "TUBESUM_QUEUE": "saq",
            "TUBESUM_DATABASE_URL": db_url,
            "TUBESUM_QUEUE_URL": queue,
            "TUBESUM_MODEL": "tiny.en",
            "TUBESUM_DEVICE": "cpu",
            "TUBESUM_DATA_DIR": str(tmp_path / "data"),
            "TUBESUM_WORK_DIR": str(tmp_path / "work"),
            "TUBESUM_ALLOW_GENERIC_URLS": "true",
            "TUBESUM_ALLOW_PRIVATE_ADDRESSES": "true",  # the media server is on loopback
            "TUBESUM_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "TUBESUM_LOG_FORMAT": "json",
            "TUBESUM_LOG_LEVEL": "INFO",
        }
        upgrade(db_url)
        self.store = SqlJobStore(make_engine(db_url))
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            queue="saq",
            database_url=db_url,
            queue_url=queue,
            model="tiny.en",
            device="cpu",
            allow_generic_urls=True,
            allow_private_addresses=True,
            heartbeat_seconds=HEARTBEAT,
            rate_limit_per_minute=0,
            max_active_jobs_per_key=0,
            data_dir=tmp_path / "data",
        )
        _, self.token = self.store.create_key("saq")
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_worker(self, n: int, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker-{n}.log").open("ab")
        argv = [sys.executable, "-m", "tubesum", "worker", "--queue", "cpu"]
        proc = subprocess.Popen(argv, env={**self.env, **env}, stdout=log, stderr=log)
        self.workers.append(proc)
        return proc

    def submit(self, url: str) -> str:
        return self.submit_many([url])[0]

    def submit_many(self, urls: list[str]) -> list[str]:
        app = create_app(self.settings, store=self.store, worker=False)
        ids = []
        with TestClient(app) as client:
            for url in urls:
                body = {"source": url, "options": {"formats": FORMATS}}
                response = client.post("/v1/jobs", json=body, headers={"Authorization": f"Bearer {self.token}"})
                assert response.status_code == 202, response.text
                ids.append(str(response.json()["id"]))
        return ids

    def log_events(self, event: str) -> list[dict[str, object]]:
        """The workers' JSON log records of ``event``."""
        found = []
        for path in sorted(self.tmp_path.glob("worker-*.log")):
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict) and record.get("event") == event:
                        found.append(record)
        return found

    def wait_finished(self, job_id: str, timeout: float = 180) -> JobRecord:
        def finished() -> JobRecord | None:
            job = self.store.get(job_id)
            return job if job is not None and job.state.finished else None

        try:
            job: JobRecord = wait_for(finished, timeout=timeout, what=f"job {job_id} to finish")
        except AssertionError:
            raise AssertionError(self.logs()) from None
        return job

    def worker_of(self, job_id: str) -> str | None:
        with self.store.engine.connect() as conn:
            return conn.execute(select(JobRow.worker).where(JobRow.id == job_id)).scalar()

    def worker_pid(self, job_id: str) -> int | None:
        """The pid of the worker holding ``job_id`` (SAQ worker ids are ``host/pid/random``)."""
        worker = self.worker_of(job_id)
        return int(worker.split("/")[1]) if worker else None

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.store.engine.dispose()


@pytest.fixture
def postgres_db(tmp_path: Path) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path) as url:
        yield url


def _publish(http_server: LoopbackServer, media: Path) -> str:
    shutil.copy(media, http_server.root / media.name)
    return http_server.url(media.name)


def _flow(cluster: Cluster, url: str, *, max_attempts: int = 1) -> None:
    executor = SaqExecutor(cluster.store, cluster.settings, interval=0.5)
    executor.start()
    try:
        assert executor.alive
        cluster.start_worker(1)
        cluster.start_worker(2)
        job_id = cluster.submit(url)
        executor.notify()
        job = cluster.wait_finished(job_id)

        def both_workers_seen() -> bool:
            return {s.queue: s.workers for s in executor.queue_stats()}.get("cpu") == 2

        wait_for(both_workers_seen, timeout=30, what="SAQ to report both workers on the cpu queue")
        assert executor.queue_ok()[0]
        # the container health check: a worker of this host is registered on its queue (and none on gpu)
        check = [sys.executable, "-m", "tubesum", "worker", "--check", "--queue"]
        assert subprocess.run([*check, "cpu"], env=cluster.env, capture_output=True, check=False).returncode == 0
        assert subprocess.run([*check, "gpu"], env=cluster.env, capture_output=True, check=False).returncode == 1
    finally:
        executor.stop()
    assert job.state is JobState.SUCCEEDED, (job.error_code, job.error_message, cluster.logs())
    assert sorted(job.formats) == sorted(FORMATS)
    assert 1 <= job.attempts <= max_attempts
    assert [r["job_id"] for r in cluster.log_events("job succeeded")] == [job_id], "the job completed exactly once"
    text = cluster.store.artifact(job_id, "txt")
    assert text is not None
    assert word_overlap(SPEECH_WORDS, text.data.decode()) >= 0.6


@needs_postgres
@pytest.mark.timeout(300)
def test_flow_on_postgres(tmp_path: Path, postgres_db: str, http_server: LoopbackServer, speech_wav: Path) -> None:
    cluster = Cluster(tmp_path, postgres_db, "")
    try:
        _flow(cluster, _publish(http_server, speech_wav))
    finally:
        cluster.close()


@needs_postgres
@needs_redis
@pytest.mark.timeout(300)
def test_flow_on_redis(tmp_path: Path, postgres_db: str, http_server: LoopbackServer, speech_wav: Path) -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cluster = Cluster(tmp_path, postgres_db, REDIS_URL)
    try:
        # SAQ's Redis sweep can take a job dequeued at that very instant for an orphan and abort it; the worker then
        # requeues it and another finishes it: a second attempt, never a second result.
        _flow(cluster, _publish(http_server, speech_wav), max_attempts=2)
    finally:
        cluster.close()


@needs_postgres
@pytest.mark.timeout(300)
def test_killed_worker_job_finishes_once_elsewhere(
    tmp_path: Path, postgres_db: str, http_server: LoopbackServer, speech_wav: Path
) -> None:
    cluster = Cluster(tmp_path, postgres_db, "")
    try:
        procs = {proc.pid: proc for proc in (cluster.start_worker(1), cluster.start_worker(2))}
        job_id = cluster.submit(_publish(http_server, speech_wav))  # the workers' own dispatchers enqueue it

        def claimed_by() -> int | None:
            job = cluster.store.get(job_id)
            assert job is not None and not job.state.finished, "the job finished before the kill"
            return cluster.worker_pid(job_id) if job.state is JobState.RUNNING else None

        pid = wait_for(claimed_by, timeout=120, what="a worker to claim the job")
        procs[pid].send_signal(signal.SIGKILL)
        procs[pid].wait()
        job = cluster.wait_finished(job_id, timeout=HEARTBEAT * 6 + 60)
        assert job.state is JobState.SUCCEEDED, (job.error_code, job.error_message, cluster.logs())
        assert job.attempts == 2  # the killed attempt and the takeover, nothing more
        assert sorted(job.formats) == sorted(FORMATS)  # one artifact per format
        survivor = cluster.worker_pid(job_id)
        assert survivor is not None and survivor != pid
        # the killed worker's temporary directory is swept by the survivor (every heartbeat)
        work = cluster.tmp_path / "work"
        wait_for(lambda: not any(work.glob(f"tubesum-{pid}-*")), timeout=HEARTBEAT * 3, what="the sweep")
    finally:
        cluster.close()


def _copies(http_server: LoopbackServer, media: Path, n: int) -> list[str]:
    """``n`` distinct URLs of the same speech (distinct sources: no cache hits between them)."""
    urls = []
    for i in range(n):
        shutil.copy(media, http_server.root / f"copy-{i:02d}{media.suffix}")
        urls.append(http_server.url(f"copy-{i:02d}{media.suffix}"))
    return urls


@needs_postgres
@pytest.mark.timeout(600)
def test_fifty_jobs_across_two_workers_all_finish_none_twice(
    tmp_path: Path, postgres_db: str, http_server: LoopbackServer, speech_wav: Path
) -> None:
    cluster = Cluster(tmp_path, postgres_db, "")
    try:
        cluster.start_worker(1)
        cluster.start_worker(2)
        ids = cluster.submit_many(_copies(http_server, speech_wav, 50))
        jobs = [cluster.wait_finished(job_id, timeout=480) for job_id in ids]
        assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 50, cluster.logs()
        assert {j.attempts for j in jobs} == {1}
        started = [str(r["job_id"]) for r in cluster.log_events("job started")]
        assert sorted(started) == sorted(ids), "every job started exactly once, on one worker"
        assert len({cluster.worker_of(job_id) for job_id in ids}) == 2, "both workers took jobs"
        assert all(sorted(j.formats) == sorted(FORMATS) for j in jobs)
    finally:
        cluster.close()


@needs_postgres
@pytest.mark.timeout(300)
def test_sigterm_puts_the_running_job_back_for_another_worker(
    tmp_path: Path, postgres_db: str, http_server: LoopbackServer, media_dir: Path, speech_wav: Path
) -> None:
    cluster = Cluster(tmp_path, postgres_db, "")
    try:
        first = cluster.start_worker(1, TUBESUM_SHUTDOWN_GRACE="0")  # no grace: stop at the next progress call
        job_id = cluster.submit(_publish(http_server, make_long_speech(media_dir, speech_wav)))
        wait_for(lambda: cluster.store.get(job_id).state is JobState.RUNNING, timeout=60, what="the job to start")  # type: ignore[union-attr]
        cluster.start_worker(2)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0, cluster.logs()  # a clean exit, not a crash
        job = cluster.wait_finished(job_id, timeout=240)
        assert job.state is JobState.SUCCEEDED, (job.error_code, cluster.logs())
        assert job.attempts == 2  # interrupted once, finished once
        assert [r["job_id"] for r in cluster.log_events("job interrupted by shutdown; it goes back to the queue")] == [
            job_id
        ]
        survivor = cluster.worker_pid(job_id)
        assert survivor is not None and survivor != first.pid
    finally:
        cluster.close()


@needs_postgres
@needs_redis
def test_a_lost_saq_job_is_enqueued_again(tmp_path: Path, postgres_db: str, http_server: LoopbackServer) -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cluster = Cluster(tmp_path, postgres_db, REDIS_URL)
    try:
        cluster.submit(http_server.url("never-fetched.wav"))  # no worker runs: the job stays queued
        dispatcher = Dispatcher(cluster.store, cluster.settings, redispatch_after=0.5)

        async def scenario() -> list[int]:
            queues = {name: make_queue(cluster.settings, name) for name in QUEUE_NAMES}
            for queue in queues.values():
                await queue.connect()
            try:
                counts = [await dispatcher.once(queues), await dispatcher.once(queues)]
                redis.Redis.from_url(REDIS_URL).flushdb()  # the queue lost everything (a Redis without persistence)
                await asyncio.sleep(0.6)
                counts.append(await dispatcher.once(queues))
                await asyncio.sleep(0.6)
                counts.append(await dispatcher.once(queues))  # still queued in SAQ: not enqueued twice
                return counts
            finally:
                for queue in queues.values():
                    await queue.disconnect()

        assert asyncio.run(scenario()) == [1, 0, 1, 0]
    finally:
        cluster.close()


@pytest.mark.timeout(420)
def test_postgres_restart_readyz_goes_503_and_recovers_no_job_lost(
    tmp_path: Path, http_server: LoopbackServer, media_dir: Path, speech_wav: Path
) -> None:
    pg = PostgresServer()
    pg.start()
    server = worker = None
    try:
        upgrade(pg.url)
        env = {"TUBESUM_QUEUE": "saq", "TUBESUM_HEARTBEAT_SECONDS": str(HEARTBEAT)}
        server = make_server(tmp_path, db_url=pg.url, **env)
        server.start()
        log = (tmp_path / "worker-1.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "tubesum", "worker", "--queue", "cpu"], env=server.env, stdout=log, stderr=log
        )
        with server.client() as client:
            body = {"source": _publish(http_server, make_long_speech(media_dir, speech_wav)), "options": {}}
            job_id = client.post("/v1/jobs", json=body).json()["id"]
            wait_for(lambda: client.get(f"/v1/jobs/{job_id}").json()["state"] == "running", timeout=60, what="start")

            pg.stop()
            not_ready = wait_for(
                lambda: (r := client.get("/readyz")).status_code == 503 and r.json(), timeout=30, what="readyz 503"
            )
            assert "database" in not_ready["failing"]
            pg.start()
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout=60, what="readyz to recover")

            def finished() -> dict[str, object] | None:
                job = client.get(f"/v1/jobs/{job_id}").json()
                return job if job["state"] in ("succeeded", "failed", "cancelled") else None

            job = wait_for(finished, timeout=300, what="the interrupted job to finish")
            assert job["state"] == "succeeded", (job, (tmp_path / "worker-1.log").read_text()[-3000:])
            assert word_overlap(SPEECH_WORDS, client.get(f"/v1/jobs/{job_id}/result?format=txt").text) >= 0.6
            # and the recovered cluster takes new work
            again = client.post("/v1/jobs", json={"source": _publish(http_server, speech_wav), "options": {}}).json()
            done = wait_for(
                lambda: (j := client.get(f"/v1/jobs/{again['id']}").json())["state"] == "succeeded" and j,
                timeout=120,
                what="a job submitted after the restart",
            )
            assert done["attempts"] == 1
        assert worker.poll() is None, "the worker survived the restart"
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        if server is not None:
            server.kill()
        pg.remove()
