"""``tubesum worker``: an SAQ worker process (TUBESUM_QUEUE=saq) that runs queued jobs from the shared store.

``--gpus 0,1`` starts one child worker per GPU with ``CUDA_VISIBLE_DEVICES`` set to that GPU, so every process
loads its model once onto its own device; the parent forwards SIGTERM/SIGINT and exits when the children do.
The ids are ``nvidia-smi``'s (PCI bus order): the children get ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so CUDA counts
the same way as NVML, which GPU admission reads (CUDA's default order puts the fastest card first).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

import click

from tubesum.cli._common import AppContext, pass_app

__all__ = ["child_commands", "run_children", "worker"]

logger = logging.getLogger(__name__)


def child_commands(gpus: Sequence[str], *, queue: str, concurrency: int) -> list[tuple[list[str], dict[str, str]]]:
    """Return ``(argv, env)`` of the child worker for each GPU id (CUDA_VISIBLE_DEVICES = that id)."""
    children = []
    for gpu in gpus:
        argv = [sys.executable, "-m", "tubesum", "worker", "--queue", queue, "--concurrency", str(concurrency)]
        env = {
            **os.environ,
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # CUDA numbers GPUs as nvidia-smi and NVML (admission) do
            "CUDA_VISIBLE_DEVICES": gpu,
            "TUBESUM_DEVICE": os.environ.get("TUBESUM_DEVICE", "cuda"),
        }
        children.append((argv, env))
    return children


def run_children(commands: Sequence[tuple[list[str], dict[str, str]]]) -> int:
    """Start every child, forward SIGTERM/SIGINT to them, wait for all; return the worst exit status."""
    procs = [subprocess.Popen(argv, env=env) for argv, env in commands]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        codes = [proc.wait() for proc in procs]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max((abs(code) for code in codes), default=0)


@click.command()
@click.option(
    "--queue",
    "queue_name",
    type=click.Choice(["gpu", "cpu"]),
    default=None,
    help="SAQ queue to take jobs from (default: cpu when TUBESUM_DEVICE=cpu, else gpu).",
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True, help="Jobs at once.")
@click.option("--gpus", default="", help="Comma-separated GPU ids: one worker process per GPU (e.g. 0,1).")
@click.option(
    "--check",
    is_flag=True,
    help="Health check: exit 0 when a worker of this host is registered with the queue (seen in the last minute).",
)
@pass_app
def worker(app: AppContext, /, queue_name: str | None, concurrency: int, gpus: str, check: bool) -> None:
    """Run jobs from the SAQ queue (TUBESUM_QUEUE=saq; PostgreSQL job store, PostgreSQL or Redis queue)."""
    from tubesum.jobs.saq_executor import host_workers, make_worker, queue_url
    from tubesum.logs import configure_logging

    settings = app.settings
    settings.check_server()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    queue_name = queue_name or ("cpu" if settings.device == "cpu" else "gpu")
    if check:
        alive = asyncio.run(host_workers(settings, queue_name))
        click.echo(f"{alive} worker(s) of this host on the {queue_name} queue")
        sys.exit(0 if alive else 1)
    gpu_ids = [g.strip() for g in gpus.split(",") if g.strip()]
    if gpu_ids:
        sys.exit(run_children(child_commands(gpu_ids, queue=queue_name, concurrency=concurrency)))
    queue_url(settings)  # a clear ConfigError before anything starts
    from tubesum.api.schemas import webhook_body

    saq_worker = make_worker(settings, queue_name=queue_name, concurrency=concurrency, webhook_body=webhook_body)
    asyncio.run(saq_worker.start())
