"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``: OpenAI's audio API, so its SDKs and tools
can use tubesum as they are.

The request is OpenAI's multipart form: ``file`` (streamed to the upload store within ``upload_max_mb``) or,
as tubesum's extension, a ``url`` field (a YouTube link or media URL: the same parsing, SSRF guard and
captions-first logic as ``/v1/jobs``), ``model`` (a name from ``/v1/models``; ``whisper-1`` is the configured
model), ``language`` (transcriptions), ``prompt`` (Whisper's initial prompt), ``temperature`` (0 or absent: the
fallback schedule, as OpenAI does; else that one temperature), ``response_format`` (``json``, ``text``, ``srt``,
``vtt``, ``verbose_json``) and ``timestamp_granularities[]`` (``segment``, ``word``). Translations run Whisper's
translate task (into English; an English-only model is refused with ``english_only_model``). Underneath it is a
normal job (visible in ``/v1/jobs``, cached, retried, quota'd and limited like any other): the request waits for
it up to ``TUBESUM_OPENAI_WAIT_SECONDS``; a client that goes away does not cancel it. Errors use OpenAI's error
JSON.

``stream=true`` answers with Server-Sent Events in OpenAI's shapes: a ``transcript.text.delta`` event per
segment as it is decoded (:mod:`tubesum.live`), then ``transcript.text.done`` with the whole text. A job that
runs in another process (SAQ workers) or comes from the cache has no live feed here: its text then arrives as
one delta when it ends.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from pydantic import ValidationError

from tubesum import service
from tubesum.api.deps import ExecutorDep, SettingsDep, StoreDep
from tubesum.api.openai_models import OPENAI_DEFAULT_MODEL, OpenAIError, openai_error
from tubesum.api.uploads import receive_form
from tubesum.config import Settings, Task
from tubesum.errors import TubesumError, error_class
from tubesum.jobs.submit import submit_job
from tubesum.jobs.types import Executor, JobOptions, JobRecord, JobStore
from tubesum.jobs.uploads import UploadRecord, delete_upload
from tubesum.options import first_error
from tubesum.records import Transcript

__all__ = ["AudioController"]

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
_POLL_SECONDS = 0.2


class UnsupportedParameterError(TubesumError):
    code = "unsupported_parameter"
    http_status = 400


#: What both routes share: the body limit is upload_max_mb, enforced while streaming; errors in OpenAI's shape.
_ROUTE: dict[str, Any] = {
    "status_code": 200,
    "request_max_body_size": None,
    "responses": {
        400: ResponseSpec(OpenAIError, description="Bad request (OpenAI's error shape).", generate_examples=False)
    },
}


class AudioController(Controller):
    path = "/v1/audio"
    tags = ("OpenAI-compatible",)

    @post("/transcriptions", operation_id="CreateTranscription", **_ROUTE)
    async def create_transcription(
        self, request: Request[Any, Any, Any], settings: SettingsDep, store: StoreDep, executor: ExecutorDep
    ) -> Response[Any]:
        """Transcribe an audio file (OpenAI's multipart form); the answer is in ``response_format``."""
        return await _handle(request, settings=settings, store=store, executor=executor, task="transcribe")

    @post("/translations", operation_id="CreateTranslation", **_ROUTE)
    async def create_translation(
        self, request: Request[Any, Any, Any], settings: SettingsDep, store: StoreDep, executor: ExecutorDep
    ) -> Response[Any]:
        """Translate an audio file into English text (OpenAI's multipart form); the answer is in ``response_format``."""
        return await _handle(request, settings=settings, store=store, executor=executor, task="translate")


async def _handle(
    request: Request[Any, Any, Any], *, settings: Settings, store: JobStore, executor: Executor | None, task: Task
) -> Response[Any]:
    """Run one request of either route; tubesum's errors become OpenAI's error JSON."""
    try:
        return await _transcribe(request, settings=settings, store=store, executor=executor, task=task)
    except TubesumError as exc:
        return openai_error(exc.http_status, exc.message, code=exc.code)


async def _transcribe(
    request: Request[Any, Any, Any], *, settings: Settings, store: JobStore, executor: Executor | None, task: Task
) -> Response[Any]:
    record, fields = await receive_form(request, settings, filename=None, multipart_only=True, file_optional=True)
    form = {name: values[-1] for name, values in fields.items()}
    granularities = fields.get("timestamp_granularities[]", [])
    response_format = form.get("response_format", "json")
    try:  # the form's fields are known only once the file is stored: a refused request keeps no file
        source = _source(record, form.get("url", "").strip())
        options = _options(form, granularities=granularities, fmt=response_format, task=task)
        submission = await asyncio.to_thread(
            submit_job, source, options, owner=request.user, store=store, settings=settings
        )
    except TubesumError:
        if record is not None:
            await asyncio.to_thread(delete_upload, record.ref, owner=request.user, settings=settings)
        raise
    if submission.created and not submission.cache_hit and executor is not None:
        executor.notify()
    if form.get("stream", "false").lower() == "true":
        from tubesum.api.openai_stream import stream_transcription

        return stream_transcription(store, submission.job.id, timeout=settings.openai_wait_seconds)
    job = await _wait(store, submission.job.id, timeout=settings.openai_wait_seconds)
    if job.error_code is not None:
        status = error_class(job.error_code).http_status
        return openai_error(status, job.error_message or "The transcription failed.", code=job.error_code)
    transcript = Transcript.from_dict(job.checkpoint["transcript"])
    return _answer(transcript, response_format, words="word" in granularities, task=task)


class SourceChoiceError(TubesumError):
    """The form has both ``file`` and ``url``, or neither."""

    code = "invalid_request"
    http_status = 400


def _source(record: UploadRecord | None, url: str) -> str:
    """The job's source: the uploaded ``file``, or tubesum's ``url`` extension (a media URL or a YouTube link)."""
    if record is not None and url:
        raise SourceChoiceError("Send either 'file' or 'url', not both.")
    if record is None and not url:
        raise SourceChoiceError(
            "Send the audio as a 'file' part, or a 'url' field (tubesum's extension: a media URL or YouTube link)."
        )
    return record.ref if record is not None else url


def _options(form: dict[str, str], *, granularities: list[str], fmt: str, task: Task) -> JobOptions:
    if fmt not in FORMATS:
        raise UnsupportedParameterError(f"response_format must be one of {', '.join(FORMATS)}.")
    try:
        temperature = float(form.get("temperature", "0") or 0)
    except ValueError:
        raise UnsupportedParameterError("temperature must be a number between 0 and 1.") from None
    if not 0 <= temperature <= 1:
        raise UnsupportedParameterError("temperature must be between 0 and 1.")
    if unknown := set(granularities) - {"segment", "word"}:
        raise UnsupportedParameterError(f"Unknown timestamp_granularities: {', '.join(sorted(unknown))}.")
    model = form.get("model", OPENAI_DEFAULT_MODEL)
    try:
        return JobOptions(
            model=None if model in ("", OPENAI_DEFAULT_MODEL) else model,
            language=(form.get("language") or None) if task == "transcribe" else None,
            task=task,
            initial_prompt=form.get("prompt", "").strip() or None,
            temperature=(temperature,) if temperature else None,  # 0: OpenAI's "raise it when decoding fails"
            word_timestamps="word" in granularities,
            formats=("json",),
        )
    except ValidationError as exc:
        raise UnsupportedParameterError(f"Invalid parameter {first_error(exc)}.") from None


async def _wait(store: JobStore, job_id: str, *, timeout: float) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        job: JobRecord | None = await asyncio.to_thread(store.get, job_id, checkpoint=False)
        assert job is not None
        if job.state.finished:
            if job.error_code is None:
                job = await asyncio.to_thread(store.get, job_id)  # with the transcript
                assert job is not None
            return job
        if time.monotonic() > deadline:
            raise TranscriptionPendingError(
                f"The transcription is still running as job {job_id}; fetch it from /v1/jobs/{job_id}/result."
            )
        await asyncio.sleep(_POLL_SECONDS)


class TranscriptionPendingError(TubesumError):
    code = "timeout"
    http_status = 504


def _answer(transcript: Transcript, fmt: str, *, words: bool, task: Task = "transcribe") -> Response[Any]:
    """The result as OpenAI answers ``response_format``: JSON objects, or plain text for text/srt/vtt."""
    if fmt == "srt":
        return Response(service.render(transcript, ["srt"])["srt"].data, media_type="text/plain; charset=utf-8")
    if fmt == "vtt":
        return Response(service.render(transcript, ["vtt"])["vtt"].data, media_type="text/plain; charset=utf-8")
    if fmt == "text":
        return Response(transcript.text + "\n", media_type="text/plain; charset=utf-8")
    if fmt == "json":
        return Response({"text": transcript.text})
    body: dict[str, Any] = {
        "task": task,
        "language": transcript.language or "",
        "duration": transcript.duration,
        "text": transcript.text,
        # OpenAI's segment fields that tubesum does not keep (tokens, log-probabilities) are left out, not faked.
        "segments": [
            {"id": i, "start": s.start, "end": s.end, "text": s.text} for i, s in enumerate(transcript.segments)
        ],
    }
    if words:
        body["words"] = [
            {"word": w.text.strip(), "start": w.start, "end": w.end} for s in transcript.segments for w in s.words
        ]
    return Response(body)
