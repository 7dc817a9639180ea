"""``/v1/uploads``: stream a media file to the server (when uploads are enabled); ``/v1/jobs/{id}/media`` plays it.

The body is the raw file (``Content-Type`` its media type, ``?filename=`` its name) or a ``multipart/form-data``
form with a ``file`` part (``curl -F file=@talk.mp3``), streamed to disk within ``upload_max_mb``; the answer's
``source`` (``upload:<id>``) is then submitted to ``POST /v1/jobs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import File
from litestar.status_codes import HTTP_201_CREATED
from pydantic import BaseModel

from tubesum.api.deps import SettingsDep, StoreDep
from tubesum.api.guards import InvalidBodyError
from tubesum.api.jobs import own_job
from tubesum.api.multipart_upload import is_multipart, open_form
from tubesum.config import Settings
from tubesum.errors import SourceError, UnsupportedMediaError
from tubesum.jobs.uploads import (
    UploadRecord,
    check_upload,
    check_upload_size,
    is_upload,
    resolve_upload,
    save_upload,
)

__all__ = ["UploadController", "UploadRead", "receive_upload"]


class UploadRead(BaseModel):
    id: str
    source: str
    filename: str
    content_type: str
    size: int

    @classmethod
    def from_record(cls, record: UploadRecord) -> UploadRead:
        return cls.model_validate({**asdict(record), "source": record.ref})  # owner and time stay inside


async def receive_upload(
    request: Request[Any, Any, Any], settings: Settings, *, filename: str | None, multipart_only: bool = False
) -> tuple[UploadRecord, dict[str, list[str]]]:
    """Stream the request's file into the upload store (see :func:`receive_form`); a form needs a ``file``."""
    record, fields = await receive_form(request, settings, filename=filename, multipart_only=multipart_only)
    assert record is not None  # without file_optional, a form without a file is refused
    return record, fields


async def receive_form(
    request: Request[Any, Any, Any],
    settings: Settings,
    *,
    filename: str | None,
    multipart_only: bool = False,
    file_optional: bool = False,
) -> tuple[UploadRecord | None, dict[str, list[str]]]:
    """Stream the request's file into the upload store; return its record and the form's other fields.

    The body is the raw file (``filename`` from the query) or a multipart form whose ``file`` part is the file
    (its name and type from the part). Refused before a byte is stored: no media type, uploads off, a declared size
    over the limit, a name or type that is not media; while streaming: over the size limit or the owner's quota.
    With ``file_optional``, a multipart form without a ``file`` part is no error and stores nothing:
    ``(None, fields)`` (the OpenAI route's ``url``); uploads being off is then refused only when a file comes.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.strip():  # a media type is required: a body without one is what any page can send
        raise UnsupportedMediaError(
            "The upload has no Content-Type.", hint="Send the file's media type (or application/octet-stream)."
        )
    declared = request.headers.get("content-length", "")
    declared_size = int(declared) if declared.isdigit() else None
    chunks: AsyncIterator[bytes] = request.stream()
    fields: dict[str, list[str]] = {}
    if is_multipart(content_type):
        if not file_optional:
            check_upload_size(declared_size, settings=settings)  # before the form is read
        part, fields = await open_form(chunks, content_type)
        if part is None:
            if not file_optional:
                raise InvalidBodyError(
                    "The multipart body has no 'file' part with a file name.", hint="curl -F 'file=@talk.mp3' …"
                )
            return None, fields
        filename, content_type, chunks, fields = filename or part.filename, part.content_type, part.chunks, part.fields
    elif multipart_only:
        raise InvalidBodyError("Send the audio as multipart/form-data with a 'file' part.")
    elif filename is None:
        raise InvalidBodyError(
            "A raw upload needs ?filename=.", hint="Add ?filename=talk.mp3, or send a multipart form with a file."
        )
    check_upload(filename, content_type, settings=settings, declared_size=declared_size)  # before the bytes
    record = await save_upload(
        chunks, owner=request.user, filename=filename, content_type=content_type, settings=settings
    )
    return record, fields  # ``fields`` is complete now: the whole body has been read


class UploadController(Controller):
    path = "/v1"
    tags = ("Uploads",)

    @post(
        "/uploads",
        operation_id="CreateUpload",
        status_code=HTTP_201_CREATED,
        request_max_body_size=None,  # upload_max_mb is a runtime setting: enforced while streaming
    )
    async def create_upload(
        self,
        request: Request[Any, Any, Any],
        settings: SettingsDep,
        filename: Annotated[str | None, QueryParameter(min_length=1, max_length=255)] = None,
    ) -> UploadRead:
        """Store a media file; submit the returned ``source`` as a job. 413 over the size limit, 415 wrong type.

        The body is the raw file (with ``?filename=``) or a multipart form whose ``file`` part is the file.
        """
        record, _ = await receive_upload(request, settings, filename=filename)
        return UploadRead.from_record(record)

    @get("/jobs/{job_id:str}/media", operation_id="GetJobMedia")
    async def get_job_media(
        self, job_id: FromPath[str], request: Request[Any, Any, Any], settings: SettingsDep, store: StoreDep
    ) -> File:
        """Return the uploaded media of the caller's job (for the UI's player); URL jobs have none (404)."""
        job = await asyncio.to_thread(own_job, store, request, job_id)
        if not is_upload(job.source):
            raise NotFoundException("This job's media is not stored on the server.")
        try:
            source, record = await asyncio.to_thread(resolve_upload, job.source, owner=job.owner, settings=settings)
        except SourceError:
            raise NotFoundException("The uploaded media is no longer stored.") from None
        assert source.path is not None
        playable = record.content_type.startswith(("audio/", "video/"))
        return File(
            source.path,
            media_type=record.content_type if playable else "application/octet-stream",
            content_disposition_type="inline",
            filename=record.filename,
        )
