"""tubesum.client against a real `tubesum serve` on loopback (real tiny.en), plus its SSE and error mapping."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from servers import Server, free_port, running_server, tubesum_client
from tubesum.client import JobEvent, TubesumClient, _sse, error_from_problem
from tubesum.errors import ApiError, ConfigError, InvalidUrlError, MissingExtraError, NetworkError
from tubesum.jobs.types import JobOptions, JobState


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path) as srv:
        yield srv


def test_submit_follow_download_list_and_delete(server: Server, http_server: LoopbackServer, make_media: Any) -> None:
    media = make_media("speech.m4a")
    shutil.copy(media, http_server.root / media.name)
    events: list[JobEvent] = []
    with tubesum_client(server) as client:
        job = client.submit(http_server.url(media.name), JobOptions(formats=("txt", "srt", "json")))
        assert job.state is JobState.QUEUED
        final = client.wait(job.id, on_event=events.append)
        assert final.state is JobState.SUCCEEDED, final.error
        assert events[-1].event == "end" and events[-1].state is JobState.SUCCEEDED
        assert any(e.stage == "transcribe" for e in events if e.event == "progress")

        txt = client.result(job.id, "txt")
        assert word_overlap(SPEECH_WORDS, txt.data.decode()) >= 0.6
        assert txt.filename.endswith(".txt") and txt.content_type.startswith("text/plain")
        srt = client.result(job.id, "srt")
        assert b"-->" in srt.data
        doc = json.loads(client.result(job.id, "json").data)
        assert doc["segments"] and doc["model"] == "tiny.en"
        vtt = client.result(job.id, "vtt")  # not asked for at submit: rendered on demand
        assert vtt.data.startswith(b"WEBVTT")

        listed = client.list(state=JobState.SUCCEEDED)
        assert [j.id for j in listed.items] == [job.id] and listed.total == 1
        assert client.cancel(job.id) is None  # finished: deleted
        with pytest.raises(ApiError) as missing:
            client.get(job.id)
        assert missing.value.server_code == "not_found" and missing.value.status == 404


def test_server_errors_keep_their_stable_codes(server: Server) -> None:
    with tubesum_client(server) as client:
        with pytest.raises(InvalidUrlError) as bad:
            client.submit("https://www.youtube.com/watch?v=x")
        assert bad.value.code == "invalid_url" and bad.value.message
    with TubesumClient(server.base, api_key="ts_wrong") as stranger, pytest.raises(ApiError) as denied:
        stranger.list()
    assert denied.value.server_code == "unauthorized" and denied.value.status == 401
    assert "ts_wrong" not in str(denied.value)


def test_unreachable_server_is_a_network_error() -> None:
    with TubesumClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client, pytest.raises(NetworkError) as exc:
        client.list()
    assert "Could not reach" in exc.value.message
    with pytest.raises(ConfigError):
        TubesumClient("localhost:8000")


def test_sse_parser_skips_comments_and_joins_data_lines() -> None:
    lines = [": keep-alive", "", "event: progress", 'data: {"a":', "data: 1}", "", "event: end", "data: {}", ""]
    assert list(_sse(iter(lines))) == [("progress", '{"a":\n1}'), ("end", "{}")]


def test_problem_codes_map_to_the_error_family() -> None:
    missing = error_from_problem(501, {"code": "missing_extra", "detail": "PDF needs pdf.", "hint": "pip install"})
    assert isinstance(missing, MissingExtraError) and missing.message == "PDF needs pdf." and missing.hint
    other = error_from_problem(502, "<html>bad gateway</html>")
    assert isinstance(other, ApiError) and other.server_code == "http_error" and other.status == 502
