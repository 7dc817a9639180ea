"""``/healthz`` (the process answers) and ``/readyz`` (it can do work: DB, disks, model, GPU, worker).

The disk, model, JavaScript-runtime and CUDA checks are ``tubesum doctor``'s own
(:func:`tubesum.doctor.readiness_checks`); this module adds what only a running API knows: the database, the
worker and the queue.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from litestar import Controller, Response, get

from tubesum import doctor
from tubesum.api.deps import ApiServices, ExecutorDep, SettingsDep, StoreDep
from tubesum.config import Settings
from tubesum.jobs.types import Executor, JobStore
from tubesum.redact import scrub_paths

__all__ = ["HealthController", "readiness_checks", "readiness_of"]

logger = logging.getLogger(__name__)


def readiness_checks(*, settings: Settings, store: JobStore, executor: Executor | None) -> dict[str, dict[str, Any]]:
    """Run every readiness check; each is ``{"ok": bool, "detail": str}``, plus ``"warning": True`` for a
    problem that limits what the service can do without stopping it (it stays ready)."""
    checks: dict[str, dict[str, Any]] = {}

    def record(name: str, ok: bool, detail: str, *, warning: bool = False) -> None:
        checks[name] = {"ok": ok, "detail": detail, **({"warning": True} if warning else {})}

    try:
        store.ping()
    except Exception as exc:  # any driver error means "not ready"; details stay in the log
        record("database", False, f"unreachable ({type(exc).__name__})")
    else:
        try:  # a store that only reads cannot take jobs: a held write lock, a read-only file or server
            store.ping(write=True)
            record("database", True, "reachable and writable")
        except Exception as exc:
            logger.warning("readiness: the job database cannot be written", exc_info=True)
            record("database", False, f"not writable ({type(exc).__name__})")
    for check in doctor.readiness_checks(settings):
        record(check.name, check.status != "fail", check.detail, warning=check.status == "warn")
    if executor is not None:
        alive = executor.alive
        record("worker", alive, "running" if alive else "stopped")
        queue = executor.queue_ok()
        if queue is not None:
            record("queue", *queue)
    return checks


def readiness_of(services: ApiServices) -> dict[str, dict[str, Any]]:
    """:func:`readiness_checks` of the app's parts (for the ``tubesum_ready`` metric)."""
    return readiness_checks(settings=services.settings, store=services.job_store(), executor=services.executor)


def _public(checks: dict[str, dict[str, Any]], settings: Settings) -> dict[str, dict[str, Any]]:
    """The checks as the public /readyz shows them: no server directory in a detail (the log and doctor have them)."""
    roots = (
        settings.data_dir,
        settings.work_dir,
        settings.model_cache_dir,
        tempfile.gettempdir(),
        sys.prefix,
        Path.home(),
    )
    return {name: {**check, "detail": scrub_paths(str(check["detail"]), roots)} for name, check in checks.items()}


class HealthController(Controller):
    tags = ("Health",)
    include_in_schema = True

    @get("/healthz", operation_id="Liveness", exclude_from_auth=True)
    async def liveness(self) -> dict[str, str]:
        """Answer while the process is alive."""
        return {"status": "ok"}  # nothing about the process: the endpoint is public

    @get("/readyz", operation_id="Readiness", exclude_from_auth=True, sync_to_thread=True)
    def readiness(self, settings: SettingsDep, store: StoreDep, executor: ExecutorDep) -> Response[dict[str, Any]]:
        """200 when the service can take work, 503 listing the failing checks otherwise."""
        checks = _public(readiness_checks(settings=settings, store=store, executor=executor), settings)
        failing = sorted(name for name, check in checks.items() if not check["ok"])
        warnings = sorted(name for name, check in checks.items() if check.get("warning"))
        body = {
            "status": "ready" if not failing else "not ready",
            "failing": failing,
            "warnings": warnings,
            "checks": checks,
        }
        return Response(body, status_code=503 if failing else 200)
