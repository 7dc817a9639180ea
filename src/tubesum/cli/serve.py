"""``tubesum serve``: the API, the SQLite job store and the in-process worker in one process (uvicorn)."""

from __future__ import annotations

import ipaddress
import logging

import click

from tubesum.cli._common import AppContext, pass_app

__all__ = ["serve"]

logger = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", help="Bind address (default TUBESUM_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default TUBESUM_PORT or 8000).")
@click.option("--workers", type=int, help="Jobs run at once in this process (default TUBESUM_WORKERS).")
@click.option("--no-worker", is_flag=True, help="Serve the API only; jobs are run by `tubesum worker` elsewhere.")
@pass_app
def serve(app: AppContext, /, host: str | None, port: int | None, workers: int | None, no_worker: bool) -> None:
    """Serve the HTTP API with the job queue (OpenAPI at /schema, metrics at /metrics)."""
    import uvicorn

    from tubesum.api.app import create_app
    from tubesum.logs import configure_logging

    updates = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    settings = app.settings.model_copy(update=updates)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if settings.auth_disabled and not _is_loopback(settings.host):
        logger.warning(
            "AUTHENTICATION IS DISABLED on a non-loopback address: anyone who can reach %s:%s can use this server. "
            "Unset TUBESUM_AUTH_DISABLED and create keys with `tubesum keys create`.",
            settings.host,
            settings.port,
        )
    from tubesum.jobs.store import check_store

    check_store(settings.sqlalchemy_url)  # a read-only or unreachable database: one line and the fix, no traceback
    uvicorn.run(
        create_app(settings, worker=not no_worker),
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
        access_log=False,  # our own access log carries no client addresses
        log_config=None,
        server_header=False,
    )
