"""SqlJobStore against a real SQLite file: the JobStore/KeyStore contracts, including under concurrency."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from databases import BACKENDS, fresh_database
from tubesum.jobs import migrate
from tubesum.jobs import store as store_module
from tubesum.jobs.db import make_engine, single_reads
from tubesum.jobs.schema import ArtifactRow, JobRow
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.types import JobOptions, JobRecord, JobState, JobStore, KeyStore, NewJob, cache_key
from tubesum.records import Rendered

T = TypeVar("T")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlJobStore]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield SqlJobStore(engine)
    engine.dispose()


def new_job(owner: str = "alice", *, idem: str | None = None, video: str = "dQw4w9WgXcQ") -> NewJob:
    options = JobOptions.model_validate({})
    source_key = f"youtube:{video}"
    return NewJob(
        owner=owner,
        source=f"https://www.youtube.com/watch?v={video}",
        source_key=source_key,
        options=options,
        cache_key=cache_key(source_key, options, model_identity="tiny.en"),
        idempotency_key=idem,
    )


def artifact(fmt: str, data: bytes) -> Rendered:
    return Rendered(format=fmt, content_type="text/plain", filename=f"t.{fmt}", data=data)


def run_together(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run ``fn(0..n-1)`` on n threads released at the same moment."""
    barrier = threading.Barrier(n)

    def start(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(start, range(n)))


def finished_job(store: SqlJobStore, **kwargs: Any) -> JobRecord:
    job, _ = store.create(new_job(**kwargs))
    claimed = store.claim(worker="w")
    assert claimed is not None and claimed.id == job.id
    store.save_checkpoint(job.id, "transcribe", {"text": "hello"})
    store.succeed(job.id, artifacts=[artifact("txt", b"hello"), artifact("srt", b"1")], audio_seconds=7.0, title="T")
    done = store.get(job.id)
    assert done is not None
    return done


def artifact_rows(store: SqlJobStore, job_id: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ArtifactRow).where(ArtifactRow.job_id == job_id)) or 0)


def test_sql_store_satisfies_both_protocols(store: SqlJobStore) -> None:
    # Checked by mypy (these assignments fail type-checking if a signature drifts from tubesum.jobs.types).
    jobs: JobStore = store
    keys: KeyStore = store
    assert jobs is store and keys is store


def test_sqlite_engine_is_tuned_and_creates_its_directory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'x.db'}")
    with engine.connect() as conn:
        pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys")}
        pragmas |= {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("busy_timeout", "synchronous")}
    engine.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000, "synchronous": 1}
    assert (tmp_path / "a" / "b" / "x.db").exists()


def test_create_stores_a_queued_job_with_aware_utc_times(store: SqlJobStore) -> None:
    job, created = store.create(new_job())
    assert created and job.state is JobState.QUEUED and len(job.id) == 32
    again = store.get(job.id)
    assert again == job
    assert again.created_at.tzinfo is UTC and again.options == JobOptions.model_validate({})
    assert store.get("0" * 32) is None


def test_naive_datetimes_are_refused(store: SqlJobStore) -> None:
    with pytest.raises(StatementError, match="timezone-aware"):
        store.purge_finished_before(datetime(2026, 1, 1))


def test_idempotency_key_returns_the_owners_existing_job(store: SqlJobStore) -> None:
    first, created = store.create(new_job(idem="k1"))
    second, created_again = store.create(new_job(idem="k1"))
    other_owner, other_created = store.create(new_job("bob", idem="k1"))
    assert created and not created_again and second.id == first.id
    assert other_created and other_owner.id != first.id
    assert store.create(new_job())[0].id != store.create(new_job())[0].id  # no key: always a new job


def test_idempotency_race_creates_one_job(store: SqlJobStore) -> None:
    results = run_together(8, lambda _: store.create(new_job(idem="race")))
    assert sum(created for _, created in results) == 1
    assert len({job.id for job, _ in results}) == 1
    assert store.list(owner="alice").total == 1


def test_idempotency_conflict_at_insert_rereads_the_winner(store: SqlJobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    winner, _ = store.create(new_job(idem="late"))
    real = store_module._by_idempotency_key
    calls = []

    def miss_once(s: Any, new: NewJob) -> JobRow | None:  # as if the other insert committed just after our read
        calls.append(1)
        return None if len(calls) == 1 else real(s, new)

    monkeypatch.setattr(store_module, "_by_idempotency_key", miss_once)
    job, created = store.create(new_job(idem="late"))
    assert not created and job.id == winner.id and len(calls) == 2
    with pytest.raises(IntegrityError):  # a conflict that is not about idempotency is not swallowed
        monkeypatch.setattr(store_module, "_by_idempotency_key", lambda s, new: None)
        store.create(new_job(idem="late"))


def test_concurrent_claims_hand_out_every_job_exactly_once(store: SqlJobStore) -> None:
    ids = {store.create(new_job())[0].id for _ in range(50)}

    def drain(worker: int) -> list[str]:
        claimed = []
        while (job := store.claim(worker=f"w{worker}")) is not None:
            assert job.state is JobState.RUNNING and job.attempts == 1
            claimed.append(job.id)
        return claimed

    claims = [job_id for batch in run_together(8, drain) for job_id in batch]
    assert len(claims) == 50 and set(claims) == ids
    with store.engine.connect() as conn:
        attempts = conn.execute(select(JobRow.attempts, func.count()).group_by(JobRow.attempts)).all()
    assert attempts == [(1, 50)]
    assert store.count_by_state()[JobState.RUNNING] == 50


def test_claim_takes_the_oldest_claimable_job(store: SqlJobStore) -> None:
    first, _ = store.create(new_job())
    second, _ = store.create(new_job())
    now = datetime.now(UTC)
    claimed = store.claim(worker="w1", now=now)
    assert claimed is not None and claimed.id == first.id
    assert (claimed.attempts, claimed.started_at) == (1, now)
    assert claimed.stage is None and claimed.progress is None
    assert store.claim(worker="w2") is not None
    assert store.claim(worker="w3") is None
    assert second.id != first.id


def test_retry_later_requeues_after_not_before_and_remembers_the_error(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    assert store.claim(worker="w") is not None
    later = datetime.now(UTC) + timedelta(minutes=5)
    store.retry_later(job.id, not_before=later, code="network", message="timed out")
    queued = store.get(job.id)
    assert queued is not None and queued.state is JobState.QUEUED and queued.not_before == later
    assert (queued.error_code, queued.error_message, queued.attempts) == ("network", "timed out", 1)
    assert store.claim(worker="w") is None
    again = store.claim(worker="w", now=later + timedelta(seconds=1))
    assert again is not None and again.id == job.id and again.attempts == 2


def test_update_progress_until_cancel_is_requested(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    assert not store.update_progress(job.id, stage="fetch", progress=0.1)  # not running yet
    store.claim(worker="w")
    assert store.update_progress(job.id, stage="transcribe", progress=0.5)
    running = store.get(job.id)
    assert running is not None and (running.stage, running.progress) == ("transcribe", 0.5)
    cancelling = store.cancel(job.id)
    assert cancelling is not None and cancelling.state is JobState.RUNNING and cancelling.cancel_requested
    assert not store.update_progress(job.id, stage="transcribe", progress=0.6)
    store.mark_cancelled(job.id)
    cancelled = store.get(job.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None


def test_cancel_queued_at_once_finished_unchanged_missing_none(store: SqlJobStore) -> None:
    queued, _ = store.create(new_job())
    cancelled = store.cancel(queued.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert store.claim(worker="w") is None
    done = finished_job(store)
    assert store.cancel(done.id) == done
    assert store.cancel("f" * 32) is None


def test_succeed_twice_replaces_artifacts_without_duplicates(store: SqlJobStore) -> None:
    job = finished_job(store)
    assert job.state is JobState.SUCCEEDED and job.formats == ("txt", "srt")
    assert (job.audio_seconds, job.title, job.stage) == (7.0, "T", None)
    store.succeed(job.id, artifacts=[artifact("txt", b"v2"), artifact("txt", b"v3")], audio_seconds=7.0, title="T")
    assert artifact_rows(store, job.id) == 1
    got = store.artifact(job.id, "txt")
    assert got is not None and got.data == b"v3" and got.format == "txt"
    assert store.artifact(job.id, "srt") is None


def test_succeed_is_all_or_nothing(store: SqlJobStore) -> None:
    job = finished_job(store)
    broken = Rendered(format=None, content_type="text/plain", filename="t", data=b"")  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match=r"NOT NULL constraint failed|violates not-null constraint"):
        store.succeed(job.id, artifacts=[artifact("txt", b"new"), broken], audio_seconds=1.0, title=None)
    assert store.get(job.id) == job  # the old artifacts were deleted and re-added in the failed transaction
    kept = store.artifact(job.id, "txt")
    assert kept is not None and kept.data == b"hello" and artifact_rows(store, job.id) == 2


def test_fail_records_the_error_and_keeps_the_stage(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    store.claim(worker="w")
    store.update_progress(job.id, stage="fetch", progress=0.2)
    store.fail(job.id, code="video_private", message="This video is private.")
    failed = store.get(job.id)
    assert failed is not None and failed.state is JobState.FAILED and failed.stage == "fetch"
    assert (failed.error_code, failed.progress) == ("video_private", None)
    store.fail(job.id, code="other", message="late")  # finished jobs are left alone
    assert store.get(job.id) == failed


def test_cache_copy_is_independent_of_the_original(store: SqlJobStore) -> None:
    original = finished_job(store)
    assert store.create_from_cache(new_job("bob", video="other")) is None
    copy = store.create_from_cache(new_job("bob"))
    assert copy is not None and copy.id != original.id and copy.owner == "bob"
    assert copy.state is JobState.SUCCEEDED and copy.cache_hit and copy.finished_at is not None
    assert copy.formats == original.formats and copy.checkpoint == {}  # the returned record leaves it out
    stored = store.get(copy.id)
    assert stored is not None and stored.checkpoint == original.checkpoint == {"transcribe": {"text": "hello"}}
    assert store.delete(original.id)
    assert store.get(original.id) is None and store.artifact(original.id, "txt") is None
    kept = store.artifact(copy.id, "txt")
    assert kept is not None and kept.data == b"hello"
    second = store.create_from_cache(new_job("carol"))  # the copy now serves as the cache source
    assert second is not None and second.formats == ("txt", "srt")


def test_cache_ignores_unfinished_and_artifactless_jobs(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    assert store.create_from_cache(new_job("bob")) is None  # queued
    store.claim(worker="w")
    store.succeed(job.id, artifacts=[], audio_seconds=None, title=None)
    assert store.create_from_cache(new_job("bob")) is None  # nothing to copy


def test_cache_copy_honours_the_idempotency_key(store: SqlJobStore) -> None:
    finished_job(store)
    first = store.create_from_cache(new_job("bob", idem="k"))
    again = store.create_from_cache(new_job("bob", idem="k"))
    assert first is not None and again is not None and again.id == first.id
    job, created = store.create(new_job("bob", idem="k"))
    assert not created and job.id == first.id


def test_requeue_running_keeps_the_checkpoint(store: SqlJobStore) -> None:
    mine, _ = store.create(new_job())
    theirs, _ = store.create(new_job())
    store.claim(worker="me")
    store.claim(worker="them")
    store.save_checkpoint(mine.id, "fetch", {"path": "/tmp/a.m4a"})
    store.update_progress(mine.id, stage="transcribe", progress=0.4)
    assert store.requeue_running(worker="me") == 1
    requeued = store.get(mine.id)
    assert requeued is not None and requeued.state is JobState.QUEUED and requeued.attempts == 1
    assert requeued.checkpoint == {"fetch": {"path": "/tmp/a.m4a"}} and requeued.stage is None
    other = store.get(theirs.id)
    assert other is not None and other.state is JobState.RUNNING
    store.cancel(theirs.id)
    assert store.requeue_running() == 1  # cancel requested: cancelled rather than requeued
    gone = store.get(theirs.id)
    assert gone is not None and gone.state is JobState.CANCELLED


def test_purge_removes_old_finished_jobs_only(store: SqlJobStore) -> None:
    done = finished_job(store)
    queued, _ = store.create(new_job())
    running, _ = store.create(new_job())
    store.claim(worker="w")
    future = datetime.now(UTC) + timedelta(days=1)
    assert store.purge_finished_before(datetime.now(UTC) - timedelta(days=1)) == 0
    assert store.purge_finished_before(future) == 1
    assert store.get(done.id) is None and artifact_rows(store, done.id) == 0
    assert {j.id for j in store.list(owner=None).items} == {queued.id, running.id}


def test_delete_only_finished_jobs(store: SqlJobStore) -> None:
    done = finished_job(store)
    queued, _ = store.create(new_job())
    assert not store.delete(queued.id) and not store.delete("0" * 32)
    assert artifact_rows(store, done.id) == 2
    assert store.delete(done.id) and artifact_rows(store, done.id) == 0


def test_list_is_newest_first_filtered_and_paged(store: SqlJobStore) -> None:
    ids = [store.create(new_job("alice" if i % 2 else "bob"))[0].id for i in range(5)]
    page = store.list(owner="alice", limit=1, offset=1)
    assert page.total == 2 and [j.id for j in page.items] == [ids[1]]
    everyone = store.list(owner=None, limit=10)
    assert [j.id for j in everyone.items] == ids[::-1]
    store.cancel(ids[0])
    assert [j.id for j in store.list(owner=None, state=JobState.CANCELLED).items] == [ids[0]]


def test_counts_and_quotas(store: SqlJobStore) -> None:
    finished_job(store)
    store.create(new_job())
    store.create_from_cache(new_job())
    counts = store.count_by_state()
    assert counts == {**dict.fromkeys(JobState, 0), JobState.SUCCEEDED: 2, JobState.QUEUED: 1}
    assert store.active_jobs("alice") == 1 and store.active_jobs("bob") == 0
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert store.audio_seconds_since("alice", hour_ago) == 7.0  # the cache hit is free
    assert store.audio_seconds_since("alice", datetime.now(UTC) + timedelta(hours=1)) == 0.0
    store.ping()


def test_ping_raises_when_the_database_is_unreachable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'dir.db'}")
    with pytest.raises(OperationalError, match="unable to open"):
        SqlJobStore(engine).ping()
    engine.dispose()


# -- API keys -----------------------------------------------------------------------------------------------
def test_key_create_verify_revoke(store: SqlJobStore) -> None:
    record, token = store.create_key("ci")
    key_id = record.id
    assert token.startswith(f"tsk_{key_id}_") and len(token) > 40 and record.active
    assert store.verify_key(token) == record
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_hash FROM api_keys")).scalar_one()
    assert token.split("_", 2)[2] not in stored and len(stored) == 64
    assert store.revoke_key(key_id) and store.revoke_key(key_id)
    assert not store.revoke_key("0" * 16)
    assert store.verify_key(token) is None
    [listed] = store.list_keys()
    assert listed.id == key_id and not listed.active and listed.revoked_at is not None


@pytest.mark.parametrize(
    "make_token",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: "tsk_" + "0" * 16 + t[20:],  # unknown id
        lambda t: t.replace("tsk_", "tsx_"),
        lambda t: t.split("_", 2)[0] + "_" + t.split("_", 2)[1],  # no secret
        lambda t: "tsk_NOTHEX0123456789_" + t[21:],
        lambda t: t + "x" * 300,
        lambda t: "",
        lambda t: "tsk_" + t[4:20] + "_\ud800",  # unencodable
    ],
    ids=["wrong-secret", "unknown-id", "prefix", "no-secret", "bad-id", "too-long", "empty", "surrogate"],
)
def test_verify_key_refuses_bad_tokens(store: SqlJobStore, make_token: Callable[[str], str]) -> None:
    _, token = store.create_key("ci")
    assert store.verify_key(make_token(token)) is None


def test_key_names_are_validated(store: SqlJobStore) -> None:
    with pytest.raises(ValueError, match="1 to 200"):
        store.create_key("  ")
    record, _ = store.create_key("  laptop  ")
    assert record.name == "laptop" and store.list_keys() == [record]


def test_verified_keys_are_remembered_briefly_and_forgotten_on_revoke(tmp_path: Path) -> None:
    from tubesum.jobs.db import make_engine
    from tubesum.jobs.migrate import upgrade
    from tubesum.jobs.store import SqlJobStore

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    keys = SqlJobStore(make_engine(url)).keys
    record, token = keys.create_key("cached")
    assert keys.recently_verified(token) is None, "nothing is trusted before a real check"
    assert keys.verify_key(token) == record
    assert keys.recently_verified(token) == record
    assert keys.recently_verified(token + "x") is None
    keys.revoke_key(record.id)
    assert keys.recently_verified(token) is None and keys.verify_key(token) is None
    other_record, other = keys.create_key("expires")
    keys.verified_ttl = 0.0
    assert keys.verify_key(other) == other_record
    assert keys.recently_verified(other) is None, "an expired entry is not trusted"


# -- the job lease of queue workers (SAQ mode) ------------------------------------------------------------
def _age(store: SqlJobStore, job_id: str, seconds: float) -> None:
    """Pretend the job's worker last wrote ``seconds`` ago."""
    with store.engine.begin() as conn:
        conn.execute(
            JobRow.__table__.update()
            .where(JobRow.id == job_id)
            .values(updated_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )


def _worker(store: SqlJobStore, job_id: str) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(JobRow.worker).where(JobRow.id == job_id)).scalar()


def test_claim_job_takes_over_only_a_stale_lease(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    first = store.claim_job(job.id, worker="w1", stale_after=60)
    assert first is not None and first.attempts == 1 and _worker(store, job.id) == "w1"
    store.save_checkpoint(job.id, "transcript", {"text": "kept"})
    # w1 is alive (it just wrote): nobody takes its job, however often they try
    assert store.claim_job(job.id, worker="w2", stale_after=60) is None
    assert store.heartbeat(job.id, worker="w1") is True
    _age(store, job.id, 61)
    taken = store.claim_job(job.id, worker="w2", stale_after=60)
    assert taken is not None and _worker(store, job.id) == "w2" and taken.attempts == 2
    assert taken.checkpoint == {"transcript": {"text": "kept"}}
    # the old worker learns at its next beat that the job is no longer its own
    assert store.heartbeat(job.id, worker="w1") is False
    assert store.heartbeat(job.id, worker="w2") is True


def test_claim_job_without_stale_after_never_takes_a_running_job(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    assert store.claim_job(job.id, worker="w1") is not None
    _age(store, job.id, 3600)
    assert store.claim_job(job.id, worker="w2") is None
    assert store.claim_job("missing", worker="w2", stale_after=1) is None


def test_claim_job_respects_not_before_and_cancel(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    assert store.claim_job(job.id, worker="w") is not None
    store.retry_later(job.id, not_before=datetime.now(UTC) + timedelta(hours=1), code="network", message="m")
    assert store.claim_job(job.id, worker="w") is None  # not before its retry time
    other, _ = store.create(new_job(video="aaaaaaaaaaa"))
    assert store.claim_job(other.id, worker="w") is not None
    store.cancel(other.id)  # running → cancel requested
    _age(store, other.id, 100)
    assert store.claim_job(other.id, worker="w2", stale_after=10) is None
    gone = store.get(other.id)
    assert gone is not None and gone.state is JobState.CANCELLED


def test_heartbeat_reports_a_cancel_request(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    store.claim_job(job.id, worker="w")
    store.cancel(job.id)
    assert store.heartbeat(job.id, worker="w") is False


def test_a_takeover_after_the_last_attempt_fails_worker_lost(store: SqlJobStore) -> None:
    job, _ = store.create(new_job())
    for n in range(2):
        assert store.claim_job(job.id, worker=f"w{n}", stale_after=5, max_attempts=2) is not None
        _age(store, job.id, 10)
    assert store.claim_job(job.id, worker="w9", stale_after=5, max_attempts=2) is None
    lost = store.get(job.id)
    assert lost is not None and lost.state is JobState.FAILED
    assert lost.error_code == "worker_lost" and "2 attempts" in (lost.error_message or "")


def test_reap_stale_requeues_then_fails_and_leaves_live_jobs(store: SqlJobStore) -> None:
    live, _ = store.create(new_job(video="aaaaaaaaaaa"))
    dead, _ = store.create(new_job(video="bbbbbbbbbbb"))
    cancelled, _ = store.create(new_job(video="ccccccccccc"))
    for job in (live, dead, cancelled):
        store.claim_job(job.id, worker="w")
    store.cancel(cancelled.id)
    _age(store, dead.id, 120)
    _age(store, cancelled.id, 120)
    assert store.reap_stale(stale_after=60, max_attempts=2) == (1, 1)
    states = {j.id: store.get(j.id) for j in (live, dead, cancelled)}
    assert states[live.id].state is JobState.RUNNING  # type: ignore[union-attr]
    assert states[dead.id].state is JobState.QUEUED and _worker(store, dead.id) is None  # type: ignore[union-attr]
    assert states[cancelled.id].state is JobState.CANCELLED  # type: ignore[union-attr]
    # the requeued job dies again on its second attempt: now it fails instead of looping forever
    store.claim_job(dead.id, worker="w2")
    _age(store, dead.id, 120)
    assert store.reap_stale(stale_after=60, max_attempts=2) == (0, 1)
    final = store.get(dead.id)
    assert final is not None and final.state is JobState.FAILED and final.error_code == "worker_lost"


def test_requeue_running_of_one_job_leaves_the_others(store: SqlJobStore) -> None:
    a, _ = store.create(new_job(video="aaaaaaaaaaa"))
    b, _ = store.create(new_job(video="bbbbbbbbbbb"))
    store.claim_job(a.id, worker="w")
    store.claim_job(b.id, worker="w")
    assert store.requeue_running(worker="w", job_id=a.id) == 1
    assert store.get(a.id).state is JobState.QUEUED  # type: ignore[union-attr]
    assert store.get(b.id).state is JobState.RUNNING  # type: ignore[union-attr]


def test_oldest_queued_at(store: SqlJobStore) -> None:
    assert store.oldest_queued_at() is None
    job, _ = store.create(new_job())
    store.create(new_job(video="aaaaaaaaaaa"))
    oldest = store.oldest_queued_at()
    assert oldest is not None and oldest.tzinfo is not None
    assert abs((oldest - job.created_at).total_seconds()) < 1


def test_status_read_leaves_out_only_the_checkpoint(store: SqlJobStore) -> None:
    job = finished_job(store)
    assert job.checkpoint == {"transcribe": {"text": "hello"}} and job.formats == ("txt", "srt")
    status = store.get(job.id, checkpoint=False)
    assert status is not None and status.checkpoint == {}
    assert dataclasses.replace(status, checkpoint=job.checkpoint) == job
    queued, _ = store.create(new_job(video="other"))
    assert store.get(queued.id, checkpoint=False) == queued and queued.formats == ()
    assert store.get("f" * 32, checkpoint=False) is None


def test_single_reads_skip_begin_on_sqlite_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'reads.db'}")
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql))
    with single_reads(engine).connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert statements == ["SELECT 1"]
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert statements[1:] == ["BEGIN", "SELECT 1"]
    engine.dispose()
