"""Live text of remote runs: a real ``tubesum serve`` streams ``segment`` events the client and run_remote read."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LoopbackServer
from servers import Server, running_server, tubesum_client
from tubesum.client import JobEvent, ResetEvent, SegmentEvent, TubesumClient
from tubesum.frontends.session import LiveText, RunRequest, build_options, run_remote
from tubesum.jobs.types import JobOptions, JobState
from tubesum.records import Segment


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path) as srv:
        yield srv


def test_segments_arrive_in_order_once_and_make_the_final_transcript(
    server: Server, http_server: LoopbackServer, make_media: Any
) -> None:
    media = make_media("speech.m4a")
    shutil.copy(media, http_server.root / media.name)
    got: list[SegmentEvent | ResetEvent] = []
    progress: list[JobEvent] = []
    with tubesum_client(server) as client:
        job = client.submit(http_server.url(media.name), JobOptions(formats=("json",)))
        final = client.wait(job.id, on_event=progress.append, on_segment=got.append)
        assert final.state is JobState.SUCCEEDED, final.error
        segments = [e for e in got if isinstance(e, SegmentEvent)]
        assert segments and not [e for e in got if isinstance(e, ResetEvent)]
        assert [s.index for s in segments] == list(range(len(segments)))  # in order, each once
        doc = json.loads(client.result(job.id, "json").data)
        assert "".join(s.text for s in segments) == "".join(s["text"] for s in doc["segments"])
        assert progress[-1].event == "end"  # the plain progress callers see no segment events
        assert all(isinstance(e, JobEvent) for e in client.events(job.id))


def test_run_remote_grows_the_live_text_to_the_final_transcript(
    server: Server, http_server: LoopbackServer, make_media: Any
) -> None:
    media = make_media("speech.m4a")
    shutil.copy(media, http_server.root / media.name)
    live = LiveText()
    with tubesum_client(server) as client:
        result = run_remote(
            RunRequest(http_server.url(media.name), build_options({})),
            client=client,
            on_segment=live.add,
            on_reset=live.clear,
        )
    assert live.segments and [s.text for s in live.segments] == [s.text for s in result.transcript.segments]


def test_a_reset_event_clears_what_was_shown() -> None:
    """A retried attempt cannot be provoked on a healthy loopback server: the stream is served by a transport."""
    body = (
        'event: segment\ndata: {"index": 0, "start": 0.0, "end": 1.0, "text": " first try"}\n\n'
        ": keep-alive\n\n"
        'event: reset\ndata: {"id": "j1"}\n\n'
        'event: segment\ndata: {"index": 0, "start": 0.0, "end": 1.2, "text": " second try"}\n\n'
        'event: end\ndata: {"id": "j1", "state": "succeeded"}\n\n'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            assert request.url.params.get("segments") == "true"
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        return httpx.Response(404, json={"code": "not_found", "detail": "no"})

    live = LiveText()
    with TubesumClient("http://tubesum.test", transport=httpx.MockTransport(handler)) as client:
        kinds = [type(e).__name__ for e in client.live_events("j1")]
        assert kinds == ["SegmentEvent", "ResetEvent", "SegmentEvent", "JobEvent"]
        for event in client.live_events("j1"):
            if isinstance(event, SegmentEvent):
                live.add(Segment(event.start, event.end, event.text))
            elif isinstance(event, ResetEvent):
                live.clear()
    assert live.text.endswith("second try") and "first try" not in live.text
