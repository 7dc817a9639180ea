"""The scale-out executor: SAQ queues (PostgreSQL or Redis) feeding ``tubesum worker`` processes.

The job store (:class:`~tubesum.jobs.store.SqlJobStore`) stays the source of truth for state, progress,
checkpoints and artifacts; an SAQ job carries only the store job's id and gives us heartbeats, the stuck-job
sweep, retries and timeouts. Two sides::

    # API side (create_app with TUBESUM_QUEUE=saq): enqueue what submit_job queued
    executor = SaqExecutor(store, settings)
    executor.start(); executor.notify(); executor.stop()

    # worker side (`tubesum worker`): one SAQ worker per process, bound to run_tubesum_job
    worker = make_worker(settings, queue_name="gpu", concurrency=1)
    asyncio.run(worker.start())

Keys: a store job with ``attempts == n`` is enqueued under the SAQ key ``<job id>:<n>``, so enqueueing is
idempotent (any number of dispatchers may race) and a transient failure that puts the job back to ``queued``
(``attempts`` now ``n + 1``) gets a fresh key. A worker that dies mid-job stops heartbeating; SAQ's sweep retries
that SAQ job on another worker, which *takes over* the store job still marked ``running`` (only a retried SAQ
job may do that) and resumes from its transcript checkpoint. ``store.succeed`` replaces artifacts, so a result
is stored once per format whatever happened before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from tubesum.errors import ConfigError
from tubesum.jobs.db import for_writes
from tubesum.jobs.runner import CancelEvent, run_job
from tubesum.jobs.schema import JobRow
from tubesum.jobs.types import JobState

if TYPE_CHECKING:
    from saq import Queue, Worker
    from saq.types import Context, PartialTimersDict

    from tubesum.config import Settings
    from tubesum.jobs.store import SqlJobStore
    from tubesum.jobs.types import JobRecord, JobStore

__all__ = [
    "FUNCTION_NAME",
    "QUEUE_NAMES",
    "SaqExecutor",
    "claim_job",
    "dispatch_queued",
    "make_queue",
    "make_worker",
    "queue_name_for",
    "queue_url",
    "run_tubesum_job",
    "saq_key",
]

logger = logging.getLogger(__name__)

FUNCTION_NAME = "run_tubesum_job"
QUEUE_NAMES = ("gpu", "cpu")
DISPATCH_INTERVAL = 2.0  # seconds between two scans for queued store jobs missing from SAQ
DISPATCH_BATCH = 500  # queued store jobs looked at per scan


# -- configuration ------------------------------------------------------------------------------------------
def queue_url(settings: Settings) -> str:
    """Return the SAQ URL: ``queue_url`` when set, else the PostgreSQL job store URL (libpq form).

    Raises :class:`~tubesum.errors.ConfigError` when neither names a server (the SQLite default cannot queue).
    """
    if settings.queue_url:
        return settings.queue_url
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "TUBESUM_QUEUE=saq needs PostgreSQL or Redis for the queue.",
            hint="Set TUBESUM_DATABASE_URL=postgresql+psycopg://... or TUBESUM_QUEUE_URL=redis://...",
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_queue(settings: Settings, name: str) -> Queue:
    """Return an (unconnected) SAQ queue called ``name`` on :func:`queue_url`."""
    from saq import Queue

    url = queue_url(settings)
    if url.startswith("redis"):
        return Queue.from_url(url, name=name)
    return Queue.from_url(url, name=name, min_size=1, max_size=4)


def queue_name_for(job: JobRecord, settings: Settings) -> str:
    """Route a job: ``cpu`` when it needs no GPU (captions only, or a CPU-only deployment), else ``gpu``."""
    if settings.device == "cpu" or job.options.captions == "only":
        return "cpu"
    return "gpu"


def saq_key(job: JobRecord) -> str:
    """Return the SAQ job key of a queued store job: ``<id>:<attempts>`` (see the module docstring)."""
    return f"{job.id}:{job.attempts}"


# -- store access by id ---------------------------------------------------------------------------------
def claim_job(store: SqlJobStore, job_id: str, *, worker: str, take_over: bool = False) -> JobRecord | None:
    """Move job ``job_id`` to running for ``worker`` (attempts + 1), like ``claim`` but for one given job.

    A queued job is claimed when its ``not_before`` has passed. With ``take_over`` (a retried SAQ job: SAQ swept
    the previous attempt as dead) a job still ``running`` is claimed too; its checkpoint is kept. A job whose
    cancel was requested meanwhile is marked cancelled instead. Returns None when there is nothing to run.
    """
    now = datetime.now(UTC)
    states = [JobState.QUEUED.value, *([JobState.RUNNING.value] if take_over else [])]
    session = sessionmaker(for_writes(store.engine), expire_on_commit=False)
    with session.begin() as s:
        row = s.scalars(
            select(JobRow)
            .where(JobRow.id == job_id, JobRow.state.in_(states))
            .where(or_(JobRow.not_before.is_(None), JobRow.not_before <= now))
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        if row.cancel_requested:
            row.state, row.finished_at, row.updated_at, row.progress = JobState.CANCELLED.value, now, now, None
            return None
        row.state = JobState.RUNNING.value
        row.attempts += 1
        row.started_at = row.updated_at = now
        row.worker = worker
        row.stage = row.progress = row.not_before = None
    return store.get(job_id)


async def enqueue_job(queues: dict[str, Queue], job: JobRecord, settings: Settings) -> bool:
    """Enqueue ``run_tubesum_job`` for a queued store job; False when SAQ already has it (same key)."""
    queue = queues[queue_name_for(job, settings)]
    scheduled = int(job.not_before.timestamp()) if job.not_before is not None else 0
    enqueued = await queue.enqueue(
        FUNCTION_NAME,
        job_id=job.id,
        key=saq_key(job),
        scheduled=scheduled,
        heartbeat=settings.heartbeat_seconds,
        timeout=settings.job_timeout_seconds,
        retries=settings.job_retries + 1,
        ttl=86400,
    )
    return enqueued is not None


async def dispatch_queued(store: JobStore, queues: dict[str, Queue], settings: Settings) -> int:
    """Enqueue every queued store job (oldest batch) SAQ does not have yet; return how many were new."""
    page = await asyncio.to_thread(store.list, owner=None, state=JobState.QUEUED, limit=DISPATCH_BATCH)
    new = 0
    for job in reversed(page.items):  # oldest first
        new += await enqueue_job(queues, job, settings)
    return new


# -- worker side --------------------------------------------------------------------------------------------
async def run_tubesum_job(ctx: Context, *, job_id: str) -> str:
    """The SAQ function: claim store job ``job_id`` and run it on a thread while heartbeating SAQ's job.

    The pipeline blocks (decoding, model calls), so it runs in :func:`asyncio.to_thread`; the event loop keeps
    touching the SAQ job every third of the heartbeat window. Returns the store job's final state.
    """
    saq_job = ctx["job"]
    state: dict[str, Any] = cast("dict[str, Any]", ctx)["tubesum"]
    store: SqlJobStore = state["store"]
    settings: Settings = state["settings"]
    running: dict[str, CancelEvent] = state["running"]
    take_over = saq_job.attempts > 1
    job = await asyncio.to_thread(claim_job, store, job_id, worker=state["worker_id"], take_over=take_over)
    if job is None:
        current = await asyncio.to_thread(store.get, job_id)
        return current.state.value if current else "gone"
    event = CancelEvent()
    running[job.id] = event
    task = asyncio.ensure_future(asyncio.to_thread(run_job, job, store=store, settings=settings, cancel=event))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=max(1.0, settings.heartbeat_seconds / 3))
            if done:
                break
            await saq_job.update()  # the heartbeat: touched = now
        task.result()
    except asyncio.CancelledError:  # worker shutdown or SAQ timeout: stop at the next progress call
        event.cancel("shutdown")
        raise
    finally:
        running.pop(job.id, None)
    final = await asyncio.to_thread(store.get, job_id)
    return final.state.value if final else "gone"


def make_worker(
    settings: Settings, *, queue_name: str = "gpu", concurrency: int = 1, store: Any = None
) -> Worker[Context]:
    """Build an SAQ worker for ``queue_name`` that runs ``run_tubesum_job`` and dispatches queued store jobs.

    The store is opened at startup (migrated) unless given. Sweeps run every ``heartbeat_seconds / 2``.
    """
    from saq import Worker

    queues = {name: make_queue(settings, name) for name in QUEUE_NAMES}
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def startup(ctx: Context) -> None:
        job_store = store
        if job_store is None:
            from tubesum.jobs.db import make_engine
            from tubesum.jobs.migrate import upgrade
            from tubesum.jobs.store import SqlJobStore

            await asyncio.to_thread(upgrade, settings.sqlalchemy_url)
            job_store = SqlJobStore(make_engine(settings.sqlalchemy_url))
        for queue in queues.values():
            await queue.connect()
        state: dict[str, Any] = {"store": job_store, "settings": settings, "worker_id": worker_id, "running": {}}
        state["dispatcher"] = asyncio.ensure_future(_dispatch_forever(job_store, queues, settings))
        ctx["tubesum"] = state  # type: ignore[typeddict-unknown-key]
        logger.info("tubesum worker ready", extra={"queue": queue_name, "worker_id": worker_id})

    async def shutdown(ctx: Context) -> None:
        state: dict[str, Any] = ctx.get("tubesum", {})  # type: ignore[assignment]
        for event in state.get("running", {}).values():
            event.cancel("shutdown")
        if "dispatcher" in state:
            state["dispatcher"].cancel()
        for name, queue in queues.items():
            if name != queue_name:  # the worker closes its own queue
                await queue.disconnect()

    timers: PartialTimersDict = {
        "sweep": max(1, settings.heartbeat_seconds // 2),
        "schedule": 1,
        "abort": 1,
        "worker_info": 10,
    }
    return Worker(
        queues[queue_name],
        functions=[(FUNCTION_NAME, run_tubesum_job)],
        id=worker_id,
        concurrency=concurrency,
        startup=startup,
        shutdown=shutdown,
        timers=timers,
        dequeue_timeout=1.0,
    )


async def _dispatch_forever(store: JobStore, queues: dict[str, Queue], settings: Settings) -> None:
    while True:
        try:
            await dispatch_queued(store, queues, settings)
        except Exception:
            logger.exception("could not dispatch queued jobs")
        await asyncio.sleep(DISPATCH_INTERVAL)


# -- API side -----------------------------------------------------------------------------------------------
class SaqExecutor:
    """The API replica's side of the SAQ mode: enqueue queued store jobs; jobs run in ``tubesum worker``.

    Same surface as :class:`~tubesum.jobs.executor.LocalExecutor` (``start``, ``stop``, ``notify``, ``cancel``,
    ``alive``, ``running_jobs``). An event loop on a background thread owns the SAQ connections; ``notify``
    dispatches at once and a periodic scan catches retries and anything enqueued nowhere.
    """

    def __init__(self, store: JobStore, settings: Settings, *, interval: float = DISPATCH_INTERVAL) -> None:
        self._store = store
        self._settings = settings
        self._interval = interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()

    @property
    def alive(self) -> bool:
        """True while the dispatcher thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Connect the queues and start dispatching (idempotent)."""
        if self._thread is not None:
            return
        queue_url(self._settings)  # fail fast on a configuration without a queue server
        self._thread = threading.Thread(target=self._main, name="tubesum-saq-dispatch", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def stop(self, grace: float | None = None) -> None:
        """Stop dispatching and close the queues; queued jobs stay queued (store and SAQ)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30 if grace is None else max(grace, 1.0))
        self._thread = None

    def notify(self) -> None:
        """Dispatch now (call after a submit)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def cancel(self, job_id: str) -> bool:
        """Nothing runs here: the store's cancel flag reaches the worker at its next progress call."""
        return False

    def running_jobs(self) -> list[str]:
        """Always empty: jobs run in worker processes."""
        return []

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        queues: dict[str, Queue] = {}
        try:
            loop.run_until_complete(self._connect(queues))
            task = loop.create_task(self._dispatch(queues))
            self._ready.set()
            loop.run_forever()
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            loop.run_until_complete(asyncio.gather(*(q.disconnect() for q in queues.values()), return_exceptions=True))
        except Exception:
            logger.exception("the SAQ dispatcher stopped")
        finally:
            self._ready.set()
            loop.close()

    async def _connect(self, queues: dict[str, Queue]) -> None:
        self._wake = asyncio.Event()
        for name in QUEUE_NAMES:
            queues[name] = make_queue(self._settings, name)
            await queues[name].connect()

    async def _dispatch(self, queues: dict[str, Queue]) -> None:
        assert self._wake is not None
        while True:
            try:
                await dispatch_queued(self._store, queues, self._settings)
            except Exception:
                logger.exception("could not dispatch queued jobs")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
