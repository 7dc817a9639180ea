"""``/v1/jobs``: submit, read, list, cancel/delete, follow (SSE) and download results."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_409_CONFLICT

from tubesum import service
from tubesum.api.deps import ExecutorDep, SettingsDep, StoreDep
from tubesum.api.live_events import LiveCursor
from tubesum.api.schemas import JobCreate, JobList, JobRead
from tubesum.jobs.db import is_sqlite
from tubesum.jobs.submit import submit_job
from tubesum.jobs.types import JobRecord, JobState, JobStore
from tubesum.jobs.uploads import delete_upload, is_upload
from tubesum.records import Rendered, Transcript

__all__ = ["JobController", "download_response", "own_job"]

Format = Literal["txt", "srt", "vtt", "json", "md", "pdf"]
_POLL_SECONDS = 0.25
_HEARTBEAT_SECONDS = 15.0


def own_job(store: JobStore, request: Request[Any, Any, Any], job_id: str, *, checkpoint: bool = True) -> JobRecord:
    """Return the caller's job; another owner's job is reported as missing (no existence leak)."""
    job: JobRecord | None = store.get(job_id, checkpoint=checkpoint)
    if job is None or job.owner != request.user:
        raise NotFoundException(f"No job {job_id[:64]!r}.")
    return job


def _reads_inline(store: JobStore) -> bool:
    """Whether a one-row status read may run on the event loop: yes for SQLite (a local file; in WAL mode
    readers never wait for the writer, so the read takes ~0.1 ms), no for a database server, whose reads go
    through a worker thread so a slow server stalls nothing else."""
    engine = getattr(store, "engine", None)
    return engine is not None and is_sqlite(engine)


class JobController(Controller):
    path = "/v1/jobs"
    tags = ("Jobs",)

    @post(operation_id="CreateJob", status_code=HTTP_202_ACCEPTED, sync_to_thread=True)
    def create_job(
        self,
        data: JSONBody[JobCreate],
        request: Request[Any, Any, Any],
        settings: SettingsDep,
        store: StoreDep,
        executor: ExecutorDep,
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)] = None,
    ) -> Response[JobRead]:
        """Queue a transcription, or answer at once from a finished identical job (cache hit)."""
        submission = submit_job(
            data.source,
            data.options,
            owner=request.user,
            store=store,
            settings=settings,
            idempotency_key=idempotency_key,
            callback_url=data.callback_url,
        )
        if submission.created and not submission.cache_hit and executor is not None:
            executor.notify()
        job = JobRead.from_record(submission.job)
        status = HTTP_202_ACCEPTED if submission.created and not submission.cache_hit else HTTP_200_OK
        return Response(job, status_code=status, headers={"Location": f"/v1/jobs/{job.id}"})

    @get("/{job_id:str}", operation_id="GetJob")
    async def get_job(self, job_id: FromPath[str], request: Request[Any, Any, Any], store: StoreDep) -> JobRead:
        """Return a job's state, stage and progress (and its webhook deliveries, when it has a callback_url)."""
        read = functools.partial(own_job, store, request, job_id, checkpoint=False)
        job = read() if _reads_inline(store) else await anyio.to_thread.run_sync(read)
        if job.callback_url is None:
            return JobRead.from_record(job)
        deliveries = await anyio.to_thread.run_sync(store.deliveries, job.id)
        return JobRead.from_record(job, deliveries=list(deliveries))

    @get(operation_id="ListJobs", sync_to_thread=True)
    def list_jobs(
        self,
        request: Request[Any, Any, Any],
        store: StoreDep,
        job_state: Annotated[JobState | None, QueryParameter(name="state")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> JobList:
        """List the caller's jobs, newest first."""
        page = store.list(owner=request.user, state=job_state, limit=limit, offset=offset)
        return JobList(items=[JobRead.from_record(j) for j in page.items], total=page.total, limit=limit, offset=offset)

    @delete("/{job_id:str}", operation_id="CancelOrDeleteJob", status_code=HTTP_200_OK, sync_to_thread=True)
    def cancel_or_delete_job(
        self,
        job_id: FromPath[str],
        request: Request[Any, Any, Any],
        settings: SettingsDep,
        store: StoreDep,
        executor: ExecutorDep,
    ) -> Response[Any]:
        """Cancel a queued or running job (200 with the job); delete a finished one and its results (204)."""
        job = own_job(store, request, job_id)
        if job.state.finished:
            store.delete(job.id)
            if is_upload(job.source) and not _upload_in_use(store, job):  # its file goes with its last job
                delete_upload(job.source, owner=job.owner, settings=settings)
            return Response(None, status_code=204)
        updated = store.cancel(job.id)
        if executor is not None:
            executor.cancel(job.id)
        return Response(JobRead.from_record(updated or job))

    @get("/{job_id:str}/result", operation_id="GetJobResult", sync_to_thread=True)
    def get_result(
        self,
        job_id: FromPath[str],
        request: Request[Any, Any, Any],
        store: StoreDep,
        settings: SettingsDep,
        format: FromQuery[Format] = "json",
    ) -> Response[bytes]:
        """Download the result in one format, with its content type and a download file name."""
        job = own_job(store, request, job_id, checkpoint=False)
        if job.state is not JobState.SUCCEEDED:
            raise ClientException(
                f"Job is {job.state.value}; results exist once it has succeeded.", status_code=HTTP_409_CONFLICT
            )
        result = store.artifact(job.id, format)
        if result is None:  # not asked for at submit time: render it from the stored transcript (read only now)
            transcript = Transcript.from_dict(own_job(store, request, job_id).checkpoint["transcript"])
            layout = service.SubtitleLayout.from_settings(job.options.effective(settings))
            result = service.render(transcript, [format], layout=layout)[format]
        return download_response(result)

    @get("/{job_id:str}/events", operation_id="FollowJob")
    async def follow_job(
        self, job_id: FromPath[str], request: Request[Any, Any, Any], store: StoreDep, segments: FromQuery[bool] = False
    ) -> ServerSentEvent:
        """Stream ``progress`` events (state, stage, progress) until the job ends, then one ``end`` event.

        With ``?segments=true`` also ``segment`` events: the transcript as it is decoded (index, start, end,
        text; each once, in order), and ``reset`` when a retried attempt starts it over.
        """
        job = await asyncio.to_thread(own_job, store, request, job_id)
        return ServerSentEvent(
            _events(store, job, segments=segments), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )


def download_response(result: Rendered) -> Response[bytes]:
    """A rendered result as a download: its content type and a file name safe in both header forms."""
    filename = result.filename
    disposition = (
        f"attachment; filename=\"{filename.encode('ascii', 'replace').decode()}\"; filename*=UTF-8''{quote(filename)}"
    )
    # Litestar appends "; charset=utf-8" to text/* itself: give it the bare type so the header names one charset
    media_type = result.content_type.split(";", 1)[0]
    return Response(result.data, media_type=media_type, headers={"Content-Disposition": disposition})


def _upload_in_use(store: JobStore, deleted: JobRecord) -> bool:
    """Whether another job of the owner still names the deleted job's upload."""
    offset = 0
    while True:
        page = store.list(owner=deleted.owner, limit=100, offset=offset)
        if any(job.source == deleted.source and job.id != deleted.id for job in page.items):
            return True
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return False


async def _events(store: JobStore, job: JobRecord, *, segments: bool) -> AsyncIterator[ServerSentEventMessage]:
    last: tuple[Any, ...] | None = None
    idle = 0.0
    current: JobRecord | None = job
    live = LiveCursor(job.id)
    while current is not None:
        snapshot = (current.state, current.stage, current.progress)
        if snapshot != last:
            last, idle = snapshot, 0.0
            payload = JobRead.from_record(current).model_dump(
                mode="json", include={"id", "state", "stage", "progress", "error"}
            )
            yield ServerSentEventMessage(data=json.dumps(payload), event="progress")
        elif idle >= _HEARTBEAT_SECONDS:
            idle = 0.0
            yield ServerSentEventMessage(comment="keep-alive")
        for message in live.messages() if segments else ():  # once the job is finished, the feed is complete
            idle = 0.0
            yield message
        if current.state.finished:
            yield ServerSentEventMessage(data=json.dumps({"id": current.id, "state": current.state.value}), event="end")
            return
        await asyncio.sleep(_POLL_SECONDS)
        idle += _POLL_SECONDS
        current = await asyncio.to_thread(store.get, job.id)
