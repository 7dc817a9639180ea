"""The embedded executor: a pool of worker threads inside the API process, plus a housekeeping thread.

Usage (the API's lifespan does this)::

    executor = LocalExecutor(store, settings)
    executor.start()        # sweep stale work dirs, requeue orphaned jobs, start the threads
    executor.notify()       # after a submit: an idle worker claims at once instead of at its next poll
    executor.cancel(job_id) # a job running here stops at its next progress call
    executor.stop()         # on SIGTERM: let jobs finish for shutdown_grace, then put the rest back in the queue

Recovery: in embedded mode a job still ``running`` at start-up belongs to a process that died (SIGKILL, OOM,
power loss), so :meth:`LocalExecutor.start` puts every running job back to ``queued``, its checkpoint kept;
it then runs exactly once more. A job that already had ``job_retries + 1`` attempts fails with ``worker_lost``
instead, so an input that gets the server killed cannot become a crash loop. Work dirs (``tubesum-<pid>-*``,
see :func:`tubesum.files.job_workdir`) left by dead processes are removed at start and at every housekeeping
round, in ``TUBESUM_WORK_DIR`` or, when it is unset, in the system temp dir (there only dirs of this user and
of this PID namespace, whose pids this process can check).

Watchdog: when a job's outcome cannot be recorded even after the runner's retries (database locked, down or
full), the job is still ``running`` in the store although nothing runs it. The housekeeping thread retries
putting such jobs back in the queue every ``watchdog_interval`` seconds until the store accepts it (the same
attempt limit applies), so no job stays ``running`` forever and clients see it finish once the store is back.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tubesum.files import pid_namespace
from tubesum.jobs.runner import STORE_RETRY_SECONDS, CancelEvent, OutcomeNotRecorded, run_job
from tubesum.jobs.types import JobState
from tubesum.jobs.uploads import purge_uploads_before
from tubesum.metrics import QueueStats
from tubesum.model_registry import REGISTRY
from tubesum.pipeline import models

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.jobs.types import JobRecord, JobStore

__all__ = ["LocalExecutor", "purge_expired", "sweep_workdirs", "sweep_workdirs_for", "worker_count"]

logger = logging.getLogger(__name__)

_WORKDIR = re.compile(r"^tubesum-(\d+)-(?:n(\d+)-)?")
_CLOCK_SLACK = 2.0  # seconds: /proc's boot time is whole seconds


CPU_JOBS_AT_ONCE = 4  # on CPU, jobs running together share batched model calls (cross-job batching)


def worker_count(settings: Settings) -> int:
    """Return how many jobs run at once: ``settings.workers``, else one per GPU, else on CPU
    :data:`CPU_JOBS_AT_ONCE` or one per 4 cores, whichever is more.

    Jobs decoding with the same model share its batched calls (:mod:`tubesum.pipeline.cross_batch`): on 2 CPU
    cores, 4 one-minute jobs took 8.8 s at once against 13.1 s one after another, 8 jobs 18.4 s against 25.7 s
    (docs/performance.md). The job admission still holds a job back when memory is short.
    """
    if settings.workers:
        return settings.workers
    if settings.device != "cpu":
        gpus, _why_not = models.cuda_device_count()
        if gpus > 0:
            return gpus
    return max(CPU_JOBS_AT_ONCE, (os.cpu_count() or 1) // 4)


class LocalExecutor:
    """Run queued jobs from ``store`` on worker threads of this process (a :class:`~tubesum.jobs.types.Executor`).

    **Parameters:**

    * **worker_id** *(optional)* - the name this process claims jobs under (default ``host:pid:random``).
    * **poll_interval** *(optional)* - seconds an idle worker waits between claims when nobody calls
      :meth:`notify`.
    * **housekeeping_interval** *(optional)* - seconds between retention purges (one runs at start).
    * **stop_timeout** *(optional)* - seconds :meth:`stop` waits for jobs to reach a cancellation point after
      asking them to stop.
    * **watchdog_interval** *(optional)* - seconds between two tries to requeue jobs whose outcome could not be
      recorded.
    * **store_retry_s** *(optional)* - how long a job's checkpoint and outcome writes are retried before it
      is handed to the watchdog.
    """

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        *,
        worker_id: str | None = None,
        poll_interval: float = 0.5,
        housekeeping_interval: float = 600.0,
        stop_timeout: float = 30.0,
        watchdog_interval: float = 5.0,
        store_retry_s: float = STORE_RETRY_SECONDS,
    ) -> None:
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._store = store
        self._settings = settings
        self._poll_interval = poll_interval
        self._housekeeping_interval = housekeeping_interval
        self._stop_timeout = stop_timeout
        self._watchdog_interval = watchdog_interval
        self._store_retry_s = store_retry_s
        self._unrecorded: set[str] = set()  # jobs still running in the store that nothing here runs
        self._lock = threading.Lock()
        self._watchdog_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._state: Literal["new", "started", "stopping", "stopped"] = "new"
        self._shutdown_signalled = False
        self._running: dict[str, CancelEvent] = {}
        self._workers: list[threading.Thread] = []
        self._housekeeper: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """True while started, not stopping, and every worker thread is alive (readiness)."""
        return self._state == "started" and bool(self._workers) and all(t.is_alive() for t in self._workers)

    def queue_ok(self) -> None:
        """No queue server to check: the job store is the queue (:class:`~tubesum.jobs.types.Executor`)."""
        return None

    def start(self) -> None:
        """Sweep stale work dirs, requeue jobs left running by a dead process, start workers and housekeeping.

        Calling it again while started does nothing; a stopped executor cannot be started again.
        """
        with self._lock:
            if self._state == "started":
                return
            if self._state != "new":
                raise RuntimeError("a stopped LocalExecutor cannot be started again; make a new one")
            self._state = "started"
        self._sweep()
        requeued = self._store.requeue_running(max_attempts=self._max_attempts)
        if requeued:
            logger.warning(
                "requeued jobs left running by a previous process (or failed them after too many attempts)",
                extra={"count": requeued, "max_attempts": self._max_attempts},
            )
        count = worker_count(self._settings)
        self._workers = [
            threading.Thread(target=self._work, name=f"tubesum-worker-{n}", daemon=True) for n in range(count)
        ]
        self._housekeeper = threading.Thread(target=self._housekeep, name="tubesum-housekeeping", daemon=True)
        for thread in [*self._workers, self._housekeeper]:
            thread.start()
        logger.info("executor started", extra={"workers": count, "worker_id": self.worker_id})

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming, give running jobs ``grace`` seconds (default ``shutdown_grace``), then requeue the rest.

        Jobs still running after the grace period are asked to stop (reason ``"shutdown"``) at their next
        progress call and go back to ``queued`` with their checkpoint, not to ``cancelled``. Idempotent.
        """
        with self._lock:
            if self._state != "started":
                if self._state == "new":
                    self._state = "stopped"
                return
            self._state = "stopping"
        self._stopping.set()
        self._wake.set()
        grace = self._settings.shutdown_grace if grace is None else max(0.0, grace)
        _join_all(self._workers, deadline=time.monotonic() + grace)
        with self._lock:
            self._shutdown_signalled = True
            interrupted = list(self._running)
            for event in self._running.values():
                event.cancel("shutdown")
        if interrupted:
            logger.info("asking running jobs to stop for shutdown", extra={"job_ids": interrupted})
        _join_all([*self._workers, *filter(None, [self._housekeeper])], deadline=time.monotonic() + self._stop_timeout)
        stuck = [t.name for t in self._workers if t.is_alive()]
        if stuck:  # a stage without progress calls (a long decode); the process exit ends these daemon threads
            logger.warning("workers did not stop in time; requeuing their jobs anyway", extra={"threads": stuck})
        try:
            requeued = self._store.requeue_running(worker=self.worker_id)
        except Exception:
            logger.exception("could not requeue interrupted jobs; the next start will")
        else:
            if requeued:
                logger.info("requeued interrupted jobs", extra={"count": requeued})
        with self._lock:
            self._state = "stopped"
        logger.info("executor stopped", extra={"worker_id": self.worker_id})

    @property
    def _max_attempts(self) -> int:
        return self._settings.job_retries + 1

    # -- actions --------------------------------------------------------------------------------------------
    def notify(self) -> None:
        """Wake an idle worker now (call after a submit)."""
        self._wake.set()

    def cancel(self, job_id: str) -> bool:
        """Stop ``job_id`` at its next progress call if it runs in this process; False when it does not.

        The store's ``cancel_requested`` flag (see :meth:`JobStore.cancel`) reaches jobs in other processes.
        """
        with self._lock:
            event = self._running.get(job_id)
        if event is None:
            return False
        event.cancel("cancelled")
        return True

    def running_jobs(self) -> list[str]:
        """Return the ids of the jobs running in this process now."""
        with self._lock:
            return list(self._running)

    def queue_stats(self) -> list[QueueStats]:
        """This process's queue for the metrics: queued jobs in the store, jobs running here, live threads."""
        with self._lock:
            active = len(self._running)
        queued = self._store.count_by_state()[JobState.QUEUED]
        workers = sum(t.is_alive() for t in self._workers) if self._state == "started" else 0
        return [QueueStats(queue="local", queued=queued, active=active, workers=workers)]

    def purge_expired(self, *, now: datetime | None = None) -> int:
        """Delete finished jobs (and uploads) older than ``retention_days`` (0: keep forever); return how many jobs."""
        return purge_expired(self._store, self._settings, now=now)

    # -- threads --------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                job = self._store.claim(worker=self.worker_id)
            except Exception:
                logger.exception("could not claim a job")
                self._stopping.wait(self._poll_interval)
                continue
            if job is None:
                self._wake.wait(self._poll_interval)
                continue
            if self._stopping.is_set():  # claimed while stopping: stop() requeues it
                return
            self._run(job)

    def _run(self, job: JobRecord) -> None:
        event = CancelEvent()
        with self._lock:
            self._running[job.id] = event
            if self._shutdown_signalled:
                event.cancel("shutdown")
        started = REGISTRY.now()
        try:
            run_job(job, store=self._store, settings=self._settings, cancel=event, store_retry_s=self._store_retry_s)
        except Exception as exc:  # the store failed while recording the outcome: the watchdog requeues the job
            unrecorded = exc if isinstance(exc, OutcomeNotRecorded) else None
            logger.error(
                "could not record the outcome of a job; it goes back to the queue once the store accepts writes",
                exc_info=unrecorded is None,
                extra={"job_id": job.id, "write": unrecorded.what if unrecorded else None},
            )
            with self._lock:
                self._unrecorded.add(job.id)
        finally:
            REGISTRY.touch_since(started)  # the job's models count idle from its end
            with self._lock:
                self._running.pop(job.id, None)
        self._requeue_unrecorded()

    def _requeue_unrecorded(self) -> None:
        """Put the jobs whose outcome could not be recorded back in the queue (or fail them after too many
        attempts); the ones the store still refuses stay for the next watchdog tick.
        """
        if not self._watchdog_lock.acquire(blocking=False):  # one requeue pass at a time: never requeue twice
            return
        try:
            with self._lock:
                pending = sorted(self._unrecorded)
            for job_id in pending:
                try:
                    self._store.requeue_running(worker=self.worker_id, job_id=job_id, max_attempts=self._max_attempts)
                except Exception:
                    logger.warning("the store still refuses writes", exc_info=True, extra={"job_id": job_id})
                    return
                with self._lock:
                    self._unrecorded.discard(job_id)
                logger.info("requeued a job whose outcome could not be recorded", extra={"job_id": job_id})
                self._wake.set()
        finally:
            self._watchdog_lock.release()

    def _sweep(self) -> None:
        try:
            removed = sweep_workdirs_for(self._settings)
        except Exception:
            logger.exception("work dir sweep failed")
            return
        if removed:
            logger.info("removed stale work dirs", extra={"count": len(removed)})

    def _housekeep(self) -> None:
        next_purge, swept = time.monotonic(), True  # start() swept already
        while True:
            if time.monotonic() >= next_purge:
                if not swept:
                    self._sweep()
                swept = False
                next_purge = time.monotonic() + self._housekeeping_interval
                try:
                    self.purge_expired()
                except Exception:
                    logger.exception("retention purge failed")
            self._requeue_unrecorded()
            self._unload_idle_models()
            if self._stopping.wait(min(self._watchdog_interval, max(0.0, next_purge - time.monotonic()))):
                return

    def _unload_idle_models(self) -> None:
        """Between jobs, unload the models unused for ``model_idle_ttl_seconds`` (0: keep them loaded)."""
        ttl = self._settings.model_idle_ttl_seconds
        with self._lock:
            busy = bool(self._running)
        if ttl and not busy:
            try:
                REGISTRY.unload_idle(ttl)
            except Exception:
                logger.exception("idle model unload failed")


def purge_expired(store: JobStore, settings: Settings, *, now: datetime | None = None) -> int:
    """Delete finished jobs and uploads older than ``settings.retention_days`` (0: keep forever); return how many
    jobs went.
    """
    days = settings.retention_days
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    purged = store.purge_finished_before(cutoff)
    uploads = purge_uploads_before(settings, cutoff.timestamp())
    if uploads:
        logger.info("purged expired uploads", extra={"count": uploads})
    if purged:
        logger.info("purged expired jobs", extra={"count": purged, "cutoff": cutoff.isoformat()})
    return purged


def sweep_workdirs_for(settings: Settings) -> list[Path]:
    """Sweep ``settings.work_dir``, or the system temp dir when it is unset (:func:`sweep_workdirs`)."""
    if settings.work_dir is not None:
        return sweep_workdirs(settings.work_dir)
    return sweep_workdirs(Path(tempfile.gettempdir()), shared=True)


def sweep_workdirs(parent: Path, *, shared: bool = False) -> list[Path]:
    """Remove the ``tubesum-<pid>-*`` work dirs in ``parent`` whose process is gone; return the removed paths.

    A dir named after a live process is kept, and so is one named after this process unless it is older than
    this process (a restarted container reuses its PID). Names without a pid are left alone. With ``shared``
    (the system temp dir, where other users and containers may keep theirs) only dirs owned by this user and
    tagged with this process's PID namespace (``tubesum-<pid>-n<ns>-``) are candidates: a pid from another
    namespace says nothing here.
    """
    try:
        entries = sorted(parent.iterdir())
    except FileNotFoundError:
        return []
    except OSError:
        logger.warning("cannot list the work dir", extra={"path": str(parent)}, exc_info=True)
        return []
    started = _process_start_time()
    namespace = pid_namespace()
    removed: list[Path] = []
    for path in entries:
        match = _WORKDIR.match(path.name)
        if match is None or path.is_symlink() or not path.is_dir():
            continue
        if shared and not _ours(path, match[2], namespace):
            continue
        if _stale(int(match[1]), path, started):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _ours(path: Path, tagged_namespace: str | None, namespace: int | None) -> bool:
    """A dir in a shared parent is ours to judge: same owner and tagged with our PID namespace."""
    if namespace is None or tagged_namespace is None or int(tagged_namespace) != namespace:
        return False
    try:
        return path.lstat().st_uid == os.getuid()
    except OSError:
        return False


def _stale(pid: int, path: Path, started: float | None) -> bool:
    if pid == os.getpid():
        if started is None:
            return False
        try:
            return path.lstat().st_mtime < started - _CLOCK_SLACK
        except OSError:
            return False
    return not _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # kill(0, ...) would address our process group
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _process_start_time() -> float | None:
    """Return when this process started (Unix time) from /proc; None where /proc is not there."""
    try:
        stat = Path("/proc/self/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks after boot
        return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def _join_all(threads: list[threading.Thread], *, deadline: float) -> None:
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
