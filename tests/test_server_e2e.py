"""A real `tubesum serve` process on loopback with the real tiny.en model: the whole flow, cache, crash recovery."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx_sse import connect_sse
from sqlalchemy import text

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from servers import Server, make_server, wait_for
from tubesum.jobs.db import make_engine

FORMATS = ["txt", "srt", "vtt", "json", "md", "pdf"]
CONTENT_TYPES = {
    "txt": "text/plain",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
    "md": "text/markdown",
    "pdf": "application/pdf",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = make_server(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def publish(http_server: LoopbackServer, media: Path) -> str:
    shutil.copy(media, http_server.root / media.name)
    return http_server.url(media.name)


def test_submit_follow_and_download_every_format_then_cache_hit(
    server: Server, http_server: LoopbackServer, make_media: Any
) -> None:
    url = publish(http_server, make_media("speech.m4a"))
    with server.client() as client:
        created = client.post("/v1/jobs", json={"source": url, "options": {"formats": FORMATS}})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        events: list[dict[str, Any]] = []
        with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
            for sse in source.iter_sse():
                events.append({"event": sse.event, **json.loads(sse.data)})
                if sse.event == "end":
                    break
        assert events[-1] == {"event": "end", "id": job_id, "state": "succeeded"}
        stages = [e.get("stage") for e in events if e["event"] == "progress"]
        assert "transcribe" in stages, events
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "succeeded" and sorted(job["results"]) == sorted(FORMATS)
        for fmt in FORMATS:
            result = client.get(f"/v1/jobs/{job_id}/result", params={"format": fmt})
            assert result.status_code == 200
            assert result.headers["content-type"].startswith(CONTENT_TYPES[fmt])
            assert result.headers["content-disposition"].startswith("attachment;")
            assert f".{fmt}" in result.headers["content-disposition"]
        assert word_overlap(SPEECH_WORDS, client.get(f"/v1/jobs/{job_id}/result?format=txt").text) >= 0.7
        # The same media and options again: answered from the cache, the media is not fetched again.
        fetched = len(http_server.requests)
        again = client.post("/v1/jobs", json={"source": url, "options": {"formats": ["srt"]}})
        assert again.status_code == 200 and again.json()["cache_hit"] is True
        assert again.json()["state"] == "succeeded" and again.json()["id"] != job_id
        assert len(http_server.requests) == fetched, "a cache hit must not run the pipeline"
        assert client.get(f"/v1/jobs/{again.json()['id']}/result?format=srt").status_code == 200
        metrics = client.get("/metrics").text
        assert 'tubesum_jobs_submitted_total{cache="hit"} 1.0' in metrics
        assert "tubesum_stage_duration_seconds_bucket" in metrics
        assert 'tubesum_model_load_seconds_count{device="cpu"} 1.0' in metrics
        assert "tubesum_realtime_factor_count 1.0" in metrics


def test_sigkill_mid_job_then_restart_finishes_the_job_exactly_once(
    server: Server, http_server: LoopbackServer, media_dir: Path, speech_wav: Path
) -> None:
    long_audio = media_dir / "long-e2e.m4a"
    if not long_audio.exists():
        subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-stream_loop",
                "12",
                "-i",
                str(speech_wav),
                "-c:a",
                "aac",
                str(long_audio),
            ],
            check=True,
        )
    url = publish(http_server, long_audio)
    with server.client() as client:
        job_id = client.post("/v1/jobs", json={"source": url, "options": {"formats": ["txt", "srt"]}}).json()["id"]
        wait_for(
            lambda: client.get(f"/v1/jobs/{job_id}").json()["stage"] == "transcribe",
            timeout=60,
            what="the job to start transcribing",
        )
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    server.start()
    with server.client() as client:
        job = wait_for(
            lambda: (j := client.get(f"/v1/jobs/{job_id}").json())["state"] == "succeeded" and j,
            timeout=120,
            what="the re-queued job to finish",
        )
        assert job["attempts"] == 2
        assert client.get("/v1/jobs").json()["total"] == 1, "the restart must not duplicate the job"
    with make_engine(server.db_url).connect() as conn:
        rows = conn.execute(text("SELECT format FROM artifacts WHERE job_id = :id ORDER BY format"), {"id": job_id})
        assert [r[0] for r in rows] == ["srt", "txt"], "each result stored exactly once"


def test_sigterm_stops_gracefully(server: Server) -> None:
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status names SIGTERM.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert server.log is not None
    assert '"event": "tubesum api stopped"' in server.log.read_text()
