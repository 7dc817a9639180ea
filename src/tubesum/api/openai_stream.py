"""OpenAI ``stream=true`` for ``POST /v1/audio/transcriptions``: the transcript as Server-Sent Events.

OpenAI's event shapes (``openai.types.audio.TranscriptionStreamEvent``): one ``transcript.text.delta``
(``delta``) per decoded segment, then ``transcript.text.done`` (``text``, the whole transcript, equal to the
deltas joined). A failed job ends the stream with OpenAI's error object (the SDK raises ``APIError``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar.response import ServerSentEvent, ServerSentEventMessage

from tubesum.api.live_events import LiveCursor
from tubesum.jobs.types import JobRecord, JobStore
from tubesum.records import Transcript

__all__ = ["stream_transcription"]

_POLL_SECONDS = 0.1


def stream_transcription(store: JobStore, job_id: str, *, timeout: float) -> ServerSentEvent:
    """The SSE response following job ``job_id`` until it ends (or ``timeout`` seconds pass)."""
    return ServerSentEvent(
        _events(store, job_id, timeout=timeout), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _message(payload: dict[str, Any]) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=json.dumps(payload, ensure_ascii=False))


async def _events(store: JobStore, job_id: str, *, timeout: float) -> AsyncIterator[ServerSentEventMessage]:
    cursor = LiveCursor(job_id)
    deadline = time.monotonic() + timeout
    sent = ""
    while True:
        job: JobRecord | None = await asyncio.to_thread(store.get, job_id, checkpoint=False)
        segments, _reset = cursor.segments()  # read after the state: a finished job's feed is complete
        for segment in segments:  # a retried attempt cannot take deltas back: its new segments follow
            if not segment.text.strip():
                continue
            delta = f" {segment.text.strip()}" if sent else segment.text.strip()
            sent += delta
            yield _message({"type": "transcript.text.delta", "delta": delta})
        if job is None or job.state.finished:
            break
        if time.monotonic() > deadline:
            yield _message({"error": {"message": f"Still running as job {job_id}.", "code": "timeout"}})
            return
        await asyncio.sleep(_POLL_SECONDS)
    if job is None or job.error_code is not None:
        message = (job.error_message if job else None) or "The transcription failed."
        yield _message({"error": {"message": message, "code": job.error_code if job else "not_found"}})
        return
    done = await asyncio.to_thread(store.get, job_id)
    assert done is not None
    text = Transcript.from_dict(done.checkpoint["transcript"]).text
    if text and not sent:  # no live feed here (another process, the cache): the whole text as one delta
        yield _message({"type": "transcript.text.delta", "delta": text})
    yield _message({"type": "transcript.text.done", "text": text})
