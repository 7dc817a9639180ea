"""``/healthz`` (the process answers) and ``/readyz`` (it can do work: DB, disks, model, GPU, worker)."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State

from tubesum.errors import TubesumError
from tubesum.pipeline.jsruntime import probe_js_runtime
from tubesum.pipeline.models import cuda_device_count, resolve_model
from tubesum.redact import scrub_paths

__all__ = ["HealthController", "readiness_checks"]

logger = logging.getLogger(__name__)


def _dir_check(path: Path, min_free_mb: int) -> tuple[bool, str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".tubesum-ready-"):
            pass
    except OSError as exc:
        return False, f"{path} is not writable: {exc.strerror or exc}"
    free_mb = shutil.disk_usage(path).free // 2**20
    if free_mb < min_free_mb:
        return False, f"{path} has {free_mb} MB free, below {min_free_mb} MB"
    return True, f"{free_mb} MB free"


def readiness_checks(state: State) -> dict[str, dict[str, Any]]:
    """Run every readiness check; each is ``{"ok": bool, "detail": str}``, plus ``"warning": True`` for a
    problem that limits what the service can do without stopping it (it stays ready)."""
    settings = state.settings
    checks: dict[str, dict[str, Any]] = {}

    def record(name: str, ok: bool, detail: str, *, warning: bool = False) -> None:
        checks[name] = {"ok": ok, "detail": detail, **({"warning": True} if warning else {})}

    try:
        state.store.ping()
    except Exception as exc:  # any driver error means "not ready"; details stay in the log
        record("database", False, f"unreachable ({type(exc).__name__})")
    else:
        try:  # a store that only reads cannot take jobs: a held write lock, a read-only file or server
            state.store.ping(write=True)
            record("database", True, "reachable and writable")
        except Exception as exc:
            logger.warning("readiness: the job database cannot be written", exc_info=True)
            record("database", False, f"not writable ({type(exc).__name__})")
    dirs = {"work_dir": settings.work_dir or Path(tempfile.gettempdir())}
    if settings.sqlalchemy_url.startswith("sqlite"):
        dirs["data_dir"] = settings.data_dir
    for name, path in dirs.items():
        record(name, *_dir_check(path, settings.ready_min_free_mb))
    try:
        resolved = resolve_model(settings.model, settings=settings)
        record("model", True, f"{resolved.name} ({resolved.origin})")
    except TubesumError as exc:
        record("model", False, exc.message)
    js = probe_js_runtime(settings.js_runtime)  # uploads work without one, YouTube mostly does not: a warning
    missing = "" if js.usable else ": YouTube downloads will fail on many videos (tubesum doctor says how to fix it)"
    record("js_runtime", True, js.describe() + missing, warning=not js.usable)
    if settings.device == "cuda":
        count, why = cuda_device_count()
        record("cuda", bool(count), f"{count} device(s)" if count else why or "no CUDA device")
    alive = state.executor_alive()
    if alive is not None:
        record("worker", alive, "running" if alive else "stopped")
    if state.queue_ok is not None:
        record("queue", *state.queue_ok())
    return checks


def _public(checks: dict[str, dict[str, Any]], settings: Any) -> dict[str, dict[str, Any]]:
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
    def readiness(self, state: State) -> Response[dict[str, Any]]:
        """200 when the service can take work, 503 listing the failing checks otherwise."""
        checks = _public(readiness_checks(state), state.settings)
        failing = sorted(name for name, check in checks.items() if not check["ok"])
        warnings = sorted(name for name, check in checks.items() if check.get("warning"))
        body = {
            "status": "ready" if not failing else "not ready",
            "failing": failing,
            "warnings": warnings,
            "checks": checks,
        }
        return Response(body, status_code=503 if failing else 200)
