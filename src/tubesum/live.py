"""Live transcripts: the segments of the jobs running in this process, as they are decoded.

The job runner opens a feed when an attempt starts, adds each segment the transcription stage passes to its
progress (:func:`tubesum.progress.emit_segment`) and closes the feed when the job ends; readers (the SSE events
stream, OpenAI ``stream=true``) read by position, so each one sees every segment once, in order.

In memory, per process: a job that runs in another process (SAQ workers) has no live feed here, and readers
then see its transcript only when it has ended. The feeds of the last :data:`KEEP_FINISHED` ended jobs stay
readable, so a reader that connects late still gets every segment.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tubesum.records import Segment

__all__ = ["KEEP_FINISHED", "LIVE", "Feed", "LiveTranscripts"]

KEEP_FINISHED = 64


@dataclass
class Feed:
    """One job attempt's segments so far; ``done`` once the attempt has ended (successfully or not)."""

    segments: list[Segment] = field(default_factory=list)
    done: bool = False
    attempt: int = 0


class LiveTranscripts:
    """Thread-safe feeds of segments by job id (writers: worker threads; readers: the event loop)."""

    def __init__(self, *, keep_finished: int = KEEP_FINISHED) -> None:
        self._feeds: OrderedDict[str, Feed] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep_finished

    def open(self, job_id: str) -> None:
        """Start a job attempt's feed (a retried job starts over: readers see ``attempt`` change)."""
        with self._lock:
            previous = self._feeds.pop(job_id, None)
            self._feeds[job_id] = Feed(attempt=previous.attempt + 1 if previous else 1)
            self._trim()

    def add(self, job_id: str, segment: Segment) -> None:
        with self._lock:
            feed = self._feeds.get(job_id)
            if feed is not None and not feed.done:
                feed.segments.append(segment)

    def close(self, job_id: str) -> None:
        with self._lock:
            feed = self._feeds.get(job_id)
            if feed is not None:
                feed.done = True
            self._trim()

    def read(self, job_id: str, after: int = 0) -> tuple[list[Segment], bool, int] | None:
        """Segments from position ``after`` on, whether the feed has ended, and its attempt; None: no feed here."""
        with self._lock:
            feed = self._feeds.get(job_id)
            if feed is None:
                return None
            return feed.segments[after:], feed.done, feed.attempt

    def _trim(self) -> None:
        finished = [job_id for job_id, feed in self._feeds.items() if feed.done]
        for job_id in finished[: max(0, len(finished) - self._keep)]:
            del self._feeds[job_id]


#: This process's feeds (one per process, like its metrics registry).
LIVE = LiveTranscripts()
