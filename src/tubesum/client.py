"""A small typed client for a tubesum server (``tubesum serve``): submit, follow, download, list, cancel.

Usage::

    with TubesumClient("http://127.0.0.1:8000", api_key="ts_...") as client:
        job = client.submit("https://youtu.be/dQw4w9WgXcQ", JobOptions(formats=("srt", "md")))
        job = client.wait(job.id, on_event=lambda e: print(e.stage, e.progress))
        srt = client.result(job.id, "srt")
        Path(srt.filename).write_bytes(srt.data)

Errors the server reports (problem+json with a stable ``code``) are raised as the matching
:class:`tubesum.errors.TubesumError` subclass (``invalid_url`` → ``InvalidUrlError``); codes without a class of
their own (``unauthorized``, ``not_found``, ...) as :class:`tubesum.errors.ApiError` with ``server_code``. A server
that cannot be reached raises :class:`tubesum.errors.NetworkError`. The API key is sent as a bearer token and is
never logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict

from tubesum.api.schemas import JobList, JobRead
from tubesum.config import OutputFormat
from tubesum.errors import ApiError, ConfigError, NetworkError, TubesumError
from tubesum.jobs.types import JobOptions, JobState
from tubesum.records import Rendered

__all__ = ["JobEvent", "Rendered", "ResetEvent", "SegmentEvent", "TubesumClient", "error_from_problem"]

_FILENAME = re.compile(r"filename\*=UTF-8''([^;]+)|filename=\"([^\"]*)\"")


class JobEvent(BaseModel):
    """One Server-Sent Event of ``GET /v1/jobs/{id}/events``: ``progress`` while it runs, ``end`` once."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: str
    id: str
    state: JobState
    stage: str | None = None
    progress: float | None = None
    error: dict[str, str] | None = None


class SegmentEvent(BaseModel):
    """A ``segment`` event (``?segments=true``): one transcript segment as it is decoded, each once, in order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: Literal["segment"] = "segment"
    index: int
    start: float
    end: float
    text: str


class ResetEvent(BaseModel):
    """A ``reset`` event: a retried attempt starts the transcript over; drop the segments received so far."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: Literal["reset"] = "reset"
    id: str


LiveEvent = JobEvent | SegmentEvent | ResetEvent


def _error_classes() -> dict[str, type[TubesumError]]:
    found: dict[str, type[TubesumError]] = {}
    pending: list[type[TubesumError]] = [TubesumError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_problem(status: int, body: Any) -> TubesumError:
    """Turn a problem+json body (or anything else an error response held) into a TubesumError."""
    problem = body if isinstance(body, dict) else {}
    code = str(problem.get("code") or "http_error")
    message = str(problem.get("detail") or problem.get("title") or f"The server answered HTTP {status}.")
    hint = problem.get("hint") if isinstance(problem.get("hint"), str) else None
    cls = _error_classes().get(code)
    if cls is None or cls is TubesumError or cls is ApiError:
        return ApiError(message, server_code=code, status=status, hint=hint)
    error = cls.__new__(cls)  # subclasses may have their own __init__ (MissingExtraError): set the fields directly
    TubesumError.__init__(error, message, hint=hint, status=status)
    return error


class TubesumClient:
    """Talk to one tubesum server.

    **Parameters:**

    * **base_url** - the server, e.g. ``http://127.0.0.1:8000``.
    * **api_key** *(optional)* - sent as ``Authorization: Bearer``; leave out for servers without auth.
    * **timeout** *(optional)* - seconds per request (event streams wait without a read timeout).
    * **transport** *(optional)* - an ``httpx`` transport, for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"Not a server URL: {base_url[:200]!r}.", hint="Use http(s)://host[:port].")
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- requests ------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise NetworkError(
                f"Could not reach the tubesum server at {self.base_url}: {type(exc).__name__}.",
                hint="Check the server URL and that the server is running.",
            ) from None
        _raise_for_problem(response)
        return response

    def submit(self, source: str, options: JobOptions | None = None, *, idempotency_key: str | None = None) -> JobRead:
        """Queue a transcription of ``source`` (a URL); a finished identical job comes back at once (cache hit)."""
        body = {"source": source, "options": (options or JobOptions()).model_dump(mode="json")}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return JobRead.model_validate(self._request("POST", "/v1/jobs", json=body, headers=headers).json())

    def get(self, job_id: str) -> JobRead:
        """Return the job's state, stage and progress."""
        return JobRead.model_validate(self._request("GET", f"/v1/jobs/{job_id}").json())

    def list(self, *, state: JobState | None = None, limit: int = 20, offset: int = 0) -> JobList:
        """List your jobs, newest first."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if state is not None:
            params["state"] = state.value
        return JobList.model_validate(self._request("GET", "/v1/jobs", params=params).json())

    def cancel(self, job_id: str) -> JobRead | None:
        """Cancel a queued or running job (returns it); delete a finished one and its results (returns None)."""
        response = self._request("DELETE", f"/v1/jobs/{job_id}")
        return None if response.status_code == 204 else JobRead.model_validate(response.json())

    def result(self, job_id: str, fmt: OutputFormat = "json") -> Rendered:
        """Download the finished job's result in one format (the same record a local render gives)."""
        response = self._request("GET", f"/v1/jobs/{job_id}/result", params={"format": fmt})
        return Rendered(
            format=fmt,
            content_type=response.headers.get("content-type", "application/octet-stream"),
            filename=_filename(response.headers.get("content-disposition", ""), job_id, fmt),
            data=response.content,
        )

    def events(self, job_id: str) -> Iterator[JobEvent]:
        """Yield the job's progress events as they happen; the last one has ``event == "end"``."""
        for event in self.live_events(job_id, segments=False):
            if isinstance(event, JobEvent):
                yield event

    def live_events(self, job_id: str, *, segments: bool = True) -> Iterator[LiveEvent]:
        """Yield progress events and (with ``segments``) the live transcript: :class:`SegmentEvent` for each
        segment as it is decoded and :class:`ResetEvent` when a retried attempt starts over. Ends after ``end``."""
        try:
            with self._http.stream(
                "GET",
                f"/v1/jobs/{job_id}/events",
                params={"segments": "true"} if segments else None,
                headers={"Accept": "text/event-stream"},
                timeout=httpx.Timeout(30.0, read=None),
            ) as response:
                if response.is_error:
                    response.read()
                    _raise_for_problem(response)
                for event, data in _sse(response.iter_lines()):
                    fields = {**json.loads(data), "event": event}
                    if event == "segment":
                        yield SegmentEvent.model_validate(fields)
                    elif event == "reset":
                        yield ResetEvent.model_validate(fields)
                    else:
                        yield JobEvent.model_validate(fields)
                    if event == "end":
                        return
        except httpx.TransportError as exc:
            raise NetworkError(
                f"Lost the event stream from {self.base_url}: {type(exc).__name__}.",
                hint="The job goes on on the server; follow it again or poll its state.",
            ) from None

    def wait(
        self,
        job_id: str,
        *,
        on_event: Callable[[JobEvent], None] | None = None,
        on_segment: Callable[[SegmentEvent | ResetEvent], None] | None = None,
    ) -> JobRead:
        """Follow the job's events until it ends, then return its final state.

        ``on_segment`` (when given) gets the live transcript: each :class:`SegmentEvent` once, in order, and a
        :class:`ResetEvent` when a retried attempt starts over.
        """
        for event in self.live_events(job_id, segments=on_segment is not None):
            if isinstance(event, JobEvent):
                if on_event is not None:
                    on_event(event)
            elif on_segment is not None:
                on_segment(event)
        return self.get(job_id)


def _raise_for_problem(response: httpx.Response) -> None:
    if not response.is_error:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    raise error_from_problem(response.status_code, body)


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Parse a text/event-stream into (event, data) pairs; comments (keep-alives) are skipped."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _filename(disposition: str, job_id: str, fmt: str) -> str:
    from urllib.parse import unquote

    match = _FILENAME.search(disposition)
    if match is None:
        return f"{job_id}.{fmt}"
    return unquote(match.group(1)) if match.group(1) else match.group(2)
