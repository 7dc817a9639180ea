"""``tubesum jobs list|show|cancel``: look into the server's job store (every owner's jobs)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

import click

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.cli.db import open_store
from tubesum.jobs.types import JobRecord, JobState

__all__ = ["jobs"]


def _job_dict(job: JobRecord) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields(job):
        value = getattr(job, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif f.name == "options":
            value = job.options.model_dump(mode="json")
        elif f.name == "formats":
            value = list(value)
        data[f.name] = value
    data["state"] = job.state.value
    return data


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"


def _stage(job: JobRecord) -> str:
    if job.stage is None:
        return "-"
    return f"{job.stage} {job.progress:.0%}" if job.progress is not None else job.stage


@click.group()
def jobs() -> None:
    """Inspect and cancel jobs of the HTTP API's queue (all owners)."""


@jobs.command(name="list")
@click.option("--state", type=click.Choice([s.value for s in JobState]), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Newest N jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def jobs_list(app: AppContext, state: str | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first."""
    with open_store(app.settings) as store:
        page = store.list(owner=None, state=JobState(state) if state else None, limit=limit)
    if as_json:
        echo_json({"total": page.total, "items": [_job_dict(j) for j in page.items]})
        return
    if not page.items:
        click.echo("No jobs.")
        return
    click.echo(f"{'ID':<32}  {'STATE':<9}  {'CREATED':<19}  {'STAGE':<16}  SOURCE")
    for job in page.items:
        click.echo(f"{job.id:<32}  {job.state.value:<9}  {_when(job.created_at)}  {_stage(job):<16}  {job.source}")
    if page.total > len(page.items):
        click.echo(f"({len(page.items)} of {page.total}; use --limit to see more)")


@jobs.command(name="show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (checkpoint included).")
@pass_app
def jobs_show(app: AppContext, job_id: str, as_json: bool) -> None:
    """Show one job."""
    with open_store(app.settings) as store:
        job = store.get(job_id)
    if job is None:
        raise click.ClickException(f"No job with id {job_id!r}.")
    if as_json:
        echo_json(_job_dict(job))
        return
    rows = {
        "id": job.id,
        "state": job.state.value + (" (cancel requested)" if job.cancel_requested else ""),
        "owner": job.owner,
        "source": job.source,
        "title": job.title or "-",
        "stage": _stage(job),
        "attempts": str(job.attempts),
        "cache hit": "yes" if job.cache_hit else "no",
        "error": f"[{job.error_code}] {job.error_message}" if job.error_code else "-",
        "created": _when(job.created_at),
        "started": _when(job.started_at),
        "finished": _when(job.finished_at),
        "audio": f"{job.audio_seconds:.1f} s" if job.audio_seconds is not None else "-",
        "formats": ", ".join(job.formats) or "-",
        "checkpoint": ", ".join(job.checkpoint) or "-",
    }
    for label, value in rows.items():
        click.echo(f"{label + ':':<12} {value}")


@jobs.command(name="cancel")
@click.argument("job_id")
@pass_app
def jobs_cancel(app: AppContext, job_id: str) -> None:
    """Cancel a job: a queued one at once, a running one at its worker's next progress report."""
    with open_store(app.settings) as store:
        job = store.get(job_id)
        if job is None:
            raise click.ClickException(f"No job with id {job_id!r}.")
        if job.state.finished:
            click.echo(f"Job {job.id} already finished ({job.state.value}); nothing to cancel.")
            return
        job = store.cancel(job_id) or job
    if job.state is JobState.RUNNING:
        click.echo(f"Job {job.id}: cancel requested; the worker stops at its next progress report.")
    else:
        click.echo(f"Job {job.id}: {job.state.value}.")
