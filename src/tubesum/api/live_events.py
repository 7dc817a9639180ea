"""Server-Sent Events of a job's live transcript (:mod:`tubesum.live`), for the events stream and OpenAI streaming."""

from __future__ import annotations

import json

from litestar.response import ServerSentEventMessage

from tubesum.live import LIVE
from tubesum.records import Segment

__all__ = ["LiveCursor"]


class LiveCursor:
    """A reader's position in a job's live transcript (:mod:`tubesum.live`): ``segment`` events, each once.

    A retried job starts its transcript over: the reader gets a ``reset`` event, then the new attempt's segments.
    """

    def __init__(self, job_id: str) -> None:
        self._job_id, self._next, self._attempt = job_id, 0, 0

    def segments(self) -> tuple[list[Segment], bool]:
        """The segments not read yet, and whether the attempt started over (the reader must drop what it has)."""
        found = LIVE.read(self._job_id, self._next)
        if found is None:
            return [], False
        segments, _done, attempt = found
        reset = attempt != self._attempt and self._next > 0
        if attempt != self._attempt:
            self._attempt = attempt
            if reset:
                self._next = 0
                segments = (LIVE.read(self._job_id, 0) or ([], False, attempt))[0]
        self._next += len(segments)
        return segments, reset

    @property
    def position(self) -> int:
        """How many segments of the current attempt were read."""
        return self._next

    def messages(self) -> list[ServerSentEventMessage]:
        """``segment`` events (index, start, end, text) for the segments not read yet, after a ``reset`` if any."""
        first = self._next
        segments, reset = self.segments()
        if reset:
            first = 0
        out = [ServerSentEventMessage(data=json.dumps({"id": self._job_id}), event="reset")] if reset else []
        for index, segment in enumerate(segments, start=first):
            data = {"index": index, "start": segment.start, "end": segment.end, "text": segment.text}
            out.append(ServerSentEventMessage(data=json.dumps(data), event="segment"))
        return out
