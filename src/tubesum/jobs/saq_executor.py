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
(``attempts`` now ``n + 1``) gets a fresh key. A store job still queued long after its enqueue (its SAQ job was
lost, or finished without claiming it) is enqueued again (:data:`REDISPATCH_AFTER`).

Liveness is a lease in the store: while a job runs, its worker touches the row (``store.heartbeat``) and SAQ's
job every quarter of ``heartbeat_seconds``. A worker that dies stops both; SAQ's sweep retries the SAQ job on
another worker, which *takes over* the store job only once its row is stale (``store.claim_job(stale_after=)``),
so a live worker's job never runs twice, and resumes from the transcript checkpoint. Whatever SAQ does, the
dispatchers' reaper requeues running jobs stale for three heartbeats, and fails them with ``worker_lost`` after
``job_retries + 1`` attempts. ``store.succeed`` replaces artifacts, so a result is stored once per format.

Shutdown (SIGTERM): the worker stops taking jobs, gives running ones ``shutdown_grace`` seconds, then stops them
at their next progress call and puts them back in the queue with their checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy.engine import make_url

from tubesum.errors import ConfigError
from tubesum.jobs.admission import admit, free_gpu_mb, gpu_models
from tubesum.jobs.executor import purge_expired, sweep_workdirs_for
from tubesum.jobs.runner import CancelEvent, run_job
from tubesum.jobs.types import JobState
from tubesum.metrics import QueueStats
from tubesum.model_registry import REGISTRY

if TYPE_CHECKING:
    from collections.abc import Callable

    from saq import Queue, Worker
    from saq.types import Context, PartialTimersDict

    from tubesum.config import Settings
    from tubesum.jobs.store import SqlJobStore
    from tubesum.jobs.types import JobRecord

__all__ = [
    "FUNCTION_NAME",
    "QUEUE_NAMES",
    "Dispatcher",
    "SaqExecutor",
    "WorkerState",
    "host_workers",
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
REDISPATCH_AFTER = 30.0  # seconds: a store job still queued this long after its enqueue is enqueued again
HOUSEKEEPING_INTERVAL = 600.0  # seconds between two retention purges of a worker
STOP_TIMEOUT = 15.0  # seconds a stopping job gets to reach its next progress call


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


# -- dispatching (API replicas and workers) ----------------------------------------------------------------
async def enqueue_job(queues: dict[str, Queue], job: JobRecord, settings: Settings, *, again: bool = False) -> bool:
    """Enqueue ``run_tubesum_job`` for a queued store job; False when SAQ already has it (same key, unfinished).

    ``again`` re-enqueues a key whose SAQ job finished without running the store job (scheduled now, so
    PostgreSQL's upsert accepts it).
    """
    queue = queues[queue_name_for(job, settings)]
    scheduled = int(job.not_before.timestamp()) if job.not_before is not None else 0
    if again:
        scheduled = max(scheduled, int(time.time()))
    enqueued = await queue.enqueue(
        FUNCTION_NAME,
        job_id=job.id,
        key=saq_key(job),
        scheduled=scheduled,
        heartbeat=settings.heartbeat_seconds,
        # the job's own deadline (job_timeout_seconds) is cooperative; SAQ's is the backstop for a stuck stage
        timeout=settings.job_timeout_seconds + 3 * settings.heartbeat_seconds if settings.job_timeout_seconds else 0,
        retries=settings.job_retries + 1,
        ttl=86400,
    )
    return enqueued is not None


@dataclass
class Dispatcher:
    """Reaps stale running jobs and enqueues queued ones; remembers its enqueues to redo lost ones."""

    store: SqlJobStore
    settings: Settings
    interval: float = DISPATCH_INTERVAL  # seconds between two passes
    redispatch_after: float = REDISPATCH_AFTER  # seconds before a still-queued job is enqueued again
    enqueued_at: dict[str, float] = field(default_factory=dict)  # SAQ key -> monotonic time of our enqueue
    last_ok: float | None = None  # monotonic time of the last pass without error

    async def once(self, queues: dict[str, Queue]) -> int:
        """One pass; returns how many SAQ jobs were enqueued."""
        settings = self.settings
        requeued, failed = await asyncio.to_thread(
            self.store.reap_stale,
            stale_after=3 * settings.heartbeat_seconds,
            max_attempts=settings.job_retries + 1,
        )
        if requeued or failed:
            logger.warning("reaped jobs of dead workers", extra={"requeued": requeued, "failed": failed})
        page = await asyncio.to_thread(self.store.list, owner=None, state=JobState.QUEUED, limit=DISPATCH_BATCH)
        now, new, seen = time.monotonic(), 0, set()
        for job in reversed(page.items):  # oldest first
            key = saq_key(job)
            seen.add(key)
            last = self.enqueued_at.get(key)
            if last is not None and now - last < self.redispatch_after:
                continue
            new += await enqueue_job(queues, job, settings, again=last is not None)
            self.enqueued_at[key] = now
        for key in set(self.enqueued_at) - seen:
            del self.enqueued_at[key]
        self.last_ok = time.monotonic()
        return new

    async def forever(self, queues: dict[str, Queue], wake: asyncio.Event | None = None) -> None:
        """Run :meth:`once` every ``interval`` seconds (or when ``wake`` is set), logging failures."""
        while True:
            try:
                await self.once(queues)
            except Exception:
                logger.warning("could not dispatch queued jobs", exc_info=True)
            if wake is None:
                await asyncio.sleep(self.interval)
                continue
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.interval)


# -- worker side --------------------------------------------------------------------------------------------
@dataclass
class WorkerState:
    """What one ``tubesum worker`` process shares between its jobs."""

    store: SqlJobStore
    settings: Settings
    worker_id: str
    running: dict[str, CancelEvent] = field(default_factory=dict)
    free_gpu_mb: Callable[[], int | None] = free_gpu_mb
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def run_tubesum_job(ctx: Context, *, job_id: str) -> str:
    """The SAQ function: claim store job ``job_id`` and run it on a thread while heartbeating.

    The pipeline blocks (decoding, model calls), so it runs in :func:`asyncio.to_thread`; the event loop keeps
    the lease (store row and SAQ job) fresh every quarter of the heartbeat window, and passes a cancel request
    seen in the store to the job. Returns the store job's final state.
    """
    saq_job = ctx["job"]
    state: WorkerState = cast("dict[str, Any]", ctx)["tubesum"]
    store, settings = state.store, state.settings
    claimed = await _admit_and_claim(state, job_id, retried=saq_job.attempts > 1)
    if claimed is None:
        current = await asyncio.to_thread(store.get, job_id, checkpoint=False)
        return current.state.value if current else "gone"
    job, device = claimed
    run_settings = settings if device == settings.device else settings.model_copy(update={"device": device})
    event = CancelEvent()
    state.running[job.id] = event
    started = REGISTRY.now()
    task = asyncio.ensure_future(asyncio.to_thread(run_job, job, store=store, settings=run_settings, cancel=event))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=max(1.0, settings.heartbeat_seconds / 4))
            if done:
                break
            await _beat(saq_job, state, job.id, event)
        task.result()
    except asyncio.CancelledError:  # shutdown after the grace period (or SAQ's timeout): stop, then requeue
        event.cancel("shutdown")
        await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if task.done():  # never requeue a job whose thread still runs: the lease expires instead
            await asyncio.to_thread(store.requeue_running, worker=state.worker_id, job_id=job.id)
        raise
    finally:
        REGISTRY.touch_since(started)  # the job's models count idle from its end
        state.running.pop(job.id, None)
    final = await asyncio.to_thread(store.get, job_id, checkpoint=False)
    return final.state.value if final else "gone"


async def _admit_and_claim(state: WorkerState, job_id: str, *, retried: bool) -> tuple[JobRecord, str] | None:
    """Claim the job if its model fits this worker (admission control); return it with the device to run on.

    A retried SAQ job may wait for the store lease of a dead worker to expire (up to one heartbeat) before
    taking the job over.
    """
    store, settings = state.store, state.settings
    queued = await asyncio.to_thread(store.get, job_id, checkpoint=False)
    if queued is None or queued.state.finished:
        return None
    model = queued.options.model or settings.model
    decision = admit(
        model,
        settings=settings,
        free_mb=await asyncio.to_thread(state.free_gpu_mb),
        loaded=gpu_models(),
        diarize=queued.options.diarize,
        summarize=queued.options.summarize,
    )
    if decision.action == "wait":
        logger.info("not taking a job: %s", decision.reason, extra={"job_id": job_id})
        return None
    deadline = time.monotonic() + (settings.heartbeat_seconds + 2 if retried else 1)
    while True:
        job = await asyncio.to_thread(
            store.claim_job,
            job_id,
            worker=state.worker_id,
            stale_after=settings.heartbeat_seconds,
            max_attempts=settings.job_retries + 1,
        )
        if job is not None:
            if decision.device != settings.device:
                logger.info("running a job on %s: %s", decision.device, decision.reason, extra={"job_id": job_id})
            return job, decision.device
        current = await asyncio.to_thread(store.get, job_id, checkpoint=False)
        if current is None or current.state.finished or time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.5)  # a row locked for a moment, or a dead worker's lease not yet expired


async def _beat(saq_job: Any, state: WorkerState, job_id: str, event: CancelEvent) -> None:
    """Refresh the SAQ job and the store lease; stop the job when the store says so."""
    try:
        await saq_job.update()
    except Exception:
        logger.warning("could not refresh the SAQ job", exc_info=True, extra={"job_id": job_id})
    try:
        ours = await asyncio.to_thread(state.store.heartbeat, job_id, worker=state.worker_id)
    except Exception:  # the database blinked: the next beat tries again; the lease outlives a short outage
        logger.warning("could not renew the job lease", exc_info=True, extra={"job_id": job_id})
        return
    if not ours:
        current = await asyncio.to_thread(state.store.get, job_id, checkpoint=False)
        event.cancel("cancelled" if current is not None and current.cancel_requested else "shutdown")


def sweep_interval(heartbeat: int) -> int:
    """Seconds between two of SAQ's stuck-job sweeps: half a heartbeat window (at least 1)."""
    return max(1, heartbeat // 2)


def takeover_seconds(heartbeat: int) -> tuple[float, float]:
    """Return the earliest and latest seconds from a worker's death until SAQ retries its job elsewhere.

    The last lease renewal happened up to a quarter window before the death; SAQ calls the job stuck one full
    window after that renewal and notices it at its next sweep (every half window). So a takeover takes
    between ``0.75`` and ``1.5`` heartbeat windows, plus the moment a worker needs to dequeue it; the docs
    (docs/scale-out.md) quote these bounds.
    """
    renewal = heartbeat / 4
    return heartbeat - renewal, heartbeat + sweep_interval(heartbeat)


async def _housekeep(state: WorkerState) -> None:
    """Work-dir sweep (every heartbeat), retention purge (every 10 min), idle model unload."""
    settings = state.settings
    last_purge = -HOUSEKEEPING_INTERVAL
    while True:
        try:
            removed = await asyncio.to_thread(sweep_workdirs_for, settings)  # the system temp dir too (when unset)
            if removed:
                logger.info("removed work dirs of dead workers", extra={"count": len(removed)})
            if time.monotonic() - last_purge >= HOUSEKEEPING_INTERVAL:
                await asyncio.to_thread(purge_expired, state.store, settings)
                last_purge = time.monotonic()
            if settings.model_idle_ttl_seconds and not state.running:  # each model by its own last use
                await asyncio.to_thread(REGISTRY.unload_idle, settings.model_idle_ttl_seconds)
        except Exception:
            logger.warning("worker housekeeping failed", exc_info=True)
        await asyncio.sleep(min(settings.heartbeat_seconds, settings.model_idle_ttl_seconds or 3600, 60))


def make_worker(
    settings: Settings,
    *,
    queue_name: str = "gpu",
    concurrency: int = 1,
    store: Any = None,
    webhook_body: Callable[[JobRecord], bytes] | None = None,
) -> Worker[Context]:
    """Build an SAQ worker for ``queue_name`` that runs ``run_tubesum_job``, dispatches and keeps house.

    The store is opened at startup (migrated) unless given. Sweeps run every ``heartbeat_seconds / 2``. With
    ``webhook_body`` (the face's job view) the worker also sends the webhooks of the jobs it finishes, from a
    thread pool of its own (:class:`~tubesum.jobs.webhook_sender.WebhookSender`).
    """
    sender: list[Any] = []
    from saq import Worker

    queues = {name: make_queue(settings, name) for name in QUEUE_NAMES}
    # host/pid/random, no colons: SAQ's Redis queue takes the part after the last colon of a worker's key as its id
    worker_id = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"

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
        state = WorkerState(job_store, settings, worker_id)
        dispatcher = Dispatcher(job_store, settings)
        state.tasks = [
            asyncio.ensure_future(dispatcher.forever(queues)),
            asyncio.ensure_future(_housekeep(state)),
        ]
        ctx["tubesum"] = state  # type: ignore[typeddict-unknown-key]
        if webhook_body is not None and hasattr(job_store, "claim_webhook"):
            from tubesum.jobs.webhook_sender import WebhookSender

            sender.append(WebhookSender(job_store, settings, body=webhook_body))
            sender[0].start()
        logger.info("tubesum worker ready", extra={"queue": queue_name, "worker_id": worker_id})

    async def shutdown(ctx: Context) -> None:
        for webhooks in sender:
            await asyncio.to_thread(webhooks.stop)
        state: WorkerState | None = ctx.get("tubesum")  # type: ignore[assignment]
        if state is not None:
            for event in state.running.values():
                event.cancel("shutdown")
            for task in state.tasks:
                task.cancel()
            try:  # jobs whose thread outlived the stop timeout: the process exits now, so they stop too
                requeued = await asyncio.to_thread(state.store.requeue_running, worker=worker_id)
            except Exception:
                logger.warning("could not requeue this worker's jobs; the reaper will", exc_info=True)
            else:
                if requeued:
                    logger.info("requeued interrupted jobs", extra={"count": requeued})
        for name, queue in queues.items():
            if name != queue_name:  # the worker closes its own queue
                await queue.disconnect()
        logger.info("tubesum worker stopped", extra={"worker_id": worker_id})

    timers: PartialTimersDict = {
        "sweep": sweep_interval(settings.heartbeat_seconds),
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
        shutdown_grace_period_s=int(settings.shutdown_grace),
        cancellation_hard_deadline_s=STOP_TIMEOUT + 5,
    )


async def host_workers(settings: Settings, queue_name: str) -> int:
    """How many workers of this host SAQ lists on ``queue_name`` (registered within the last minute)."""
    queue = make_queue(settings, queue_name)
    await queue.connect()
    try:
        info = await queue.info()
    finally:
        await queue.disconnect()
    host = f"{socket.gethostname()}/"
    return sum(worker_id.startswith(host) for worker_id in info["workers"])


# -- API side -----------------------------------------------------------------------------------------------
class SaqExecutor:
    """The API replica's side of the SAQ mode: enqueue queued store jobs; jobs run in ``tubesum worker``.

    Implements :class:`~tubesum.jobs.types.Executor`, like :class:`~tubesum.jobs.executor.LocalExecutor`; its
    :meth:`queue_ok` reports whether the queue server answers (readiness). An event
    loop on a background thread owns the SAQ connections; ``notify`` dispatches at once and a periodic pass
    catches retries, lost enqueues and dead workers' jobs.
    """

    def __init__(self, store: SqlJobStore, settings: Settings, *, interval: float = DISPATCH_INTERVAL) -> None:
        self._store = store
        self._settings = settings
        self._interval = interval
        self._dispatcher = Dispatcher(store, settings, interval=interval)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stats: list[QueueStats] = []

    @property
    def alive(self) -> bool:
        """True while the dispatcher thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def queue_ok(self) -> tuple[bool, str]:
        """Readiness of the queue: a dispatch pass succeeded lately; the detail counts live workers."""
        last = self._dispatcher.last_ok
        if last is None or time.monotonic() - last > max(3 * self._interval, 10.0):
            return False, "queue unreachable (no dispatch pass succeeded lately)"
        return True, ", ".join(f"{stat.queue}: {stat.workers} worker(s)" for stat in self._stats) or "reachable"

    def queue_stats(self) -> list[QueueStats]:
        """Jobs and live workers per SAQ queue, as of the last dispatch pass."""
        return list(self._stats)

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
        """Nothing runs here: the store's cancel flag reaches the worker at its next progress call or heartbeat."""
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
            tasks = [loop.create_task(self._dispatch(queues)), loop.create_task(self._watch(queues))]
            self._ready.set()
            loop.run_forever()
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
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
        await self._dispatcher.forever(queues, self._wake)

    async def _watch(self, queues: dict[str, Queue]) -> None:
        """Refresh :meth:`queue_stats` from SAQ every few seconds."""
        while True:
            try:
                self._stats = [await _queue_stats(name, queue) for name, queue in queues.items()]
            except Exception:
                logger.debug("could not read SAQ queue info", exc_info=True)
            await asyncio.sleep(max(self._interval, 2.0))


async def _queue_stats(name: str, queue: Queue) -> QueueStats:
    info = await queue.info()
    return QueueStats(queue=name, queued=int(info["queued"]), active=int(info["active"]), workers=len(info["workers"]))
