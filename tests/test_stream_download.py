"""Decoding while the download runs: real yt-dlp against a throttled loopback server, real tiny.en on espeak.

The server sends a media file at a fixed rate and records when it sent the last byte; the service must hand
out its first segment before that moment, and end with the transcript the finished file gives.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers import job_events, running_server
from tubesum import service
from tubesum.config import Settings
from tubesum.errors import SizeLimitError, TubesumError
from tubesum.pipeline import fetch
from tubesum.pipeline.growing_file import Growth
from tubesum.pipeline.ingest import parse_source
from tubesum.records import Segment, Source

LONG_TEXT = (
    "The quick brown fox jumps over the lazy dog. Tomorrow morning we will visit the museum and the library. "
    "After lunch the children play football in the park near the river. The weather is warm and the sky is "
    "clear. In the evening my grandmother tells a story about a sailor who crossed the ocean in a small boat. "
    "He carried bread, cheese and a map of the islands. When the storm came he tied the sails and waited "
    "for the morning light. Seven days later he reached a quiet harbour where the fishermen welcomed him. "
    "They shared their soup and told him about the mountains in the north. "
    "The next spring he walked to the mountains with two young fishermen and a brown dog. They climbed for "
    "three days through forests of pine and birch, and slept in a wooden hut beside a frozen lake. On the "
    "fourth day they saw the sea on both sides of the island, green near the shore and dark blue far away. "
    "The sailor drew a new map that evening, and the fishermen kept it in the school for many years, where "
    "children still look at it and ask about the storm, the boat and the long winter in the north."
)


@dataclass
class ThrottledServer:
    """Serves one file at ``rate`` bytes per second; ``finished`` holds when each complete response ended."""

    path: Path
    rate: float
    port: int = 0
    content_length: bool = True
    fail_after: int | None = None  # close the connection after this many body bytes (Content-Length stays)
    finished: list[float] = field(default_factory=list)
    aborted: list[float] = field(default_factory=list)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.path.name}"


@pytest.fixture
def throttled() -> Iterator[Any]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(path: Path, *, seconds: float, **kwargs: Any) -> ThrottledServer:
        state = ThrottledServer(path=path, rate=path.stat().st_size / seconds, **kwargs)
        data = path.read_bytes()
        kind = {".webm": "audio/webm", ".m4a": "audio/mp4", ".wav": "audio/wav"}[path.suffix]

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                if state.content_length:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                chunk = max(1024, int(state.rate / 20))
                end = len(data) if state.fail_after is None else state.fail_after
                started = time.monotonic()
                try:
                    for offset in range(0, end, chunk):
                        self.wfile.write(data[offset : min(offset + chunk, end)])
                        self.wfile.flush()
                        time.sleep(max(0.0, started + (offset + chunk) / state.rate - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError):
                    state.aborted.append(time.monotonic())
                    return
                if end == len(data):
                    state.finished.append(time.monotonic())

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        state.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return state

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _ffmpeg(*args: str) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg is required for this test (apt-get install ffmpeg)")
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def long_wav(media_dir: Path) -> Path:
    """About 70 s of espeak-ng speech (22 kHz mono wav, about 3 MB)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is required for this test (apt-get install espeak-ng)")
    out = media_dir / "long.wav"
    if not out.exists():
        subprocess.run([espeak, "-s", "150", "-w", str(out), LONG_TEXT], check=True)
    return out


@pytest.fixture(scope="session")
def long_webm(long_wav: Path, media_dir: Path) -> Path:
    out = media_dir / "long.webm"
    if not out.exists():
        _ffmpeg("-i", str(long_wav), "-c:a", "libopus", "-b:a", "32k", str(out))
    return out


@pytest.fixture
def stream_settings(settings: Settings, tiny_model_path: Path) -> Settings:
    return settings.model_copy(update={"model": str(tiny_model_path), "language": "en", "allow_generic_urls": True})


class Recorder:
    """A progress callable with a segment sink: when each segment came, and what stages were reported."""

    def __init__(self, *, cancel_at: str | None = None) -> None:
        self.segments: list[tuple[float, Segment]] = []
        self.stages: list[str] = []
        self.cancel_at = cancel_at

    def __call__(self, stage: str, done: float, total: float | None = None, /) -> None:
        self.stages.append(stage)
        if stage == self.cancel_at:
            raise KeyboardInterrupt("cancelled by the test")

    def segment(self, segment: Segment) -> None:
        self.segments.append((time.monotonic(), segment))


def _timed(segments: list[Segment]) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in segments]


def _source(url: str, settings: Settings) -> Source:
    return parse_source(url, settings)


def test_first_segment_arrives_before_the_download_ends_and_the_transcript_is_the_files(
    throttled: Any, long_webm: Path, stream_settings: Settings
) -> None:
    server = throttled(long_webm, seconds=16)
    recorder = Recorder()
    submitted = time.monotonic()
    transcript = service.transcribe_source(
        _source(server.url(), stream_settings), settings=stream_settings, progress=recorder
    )
    ended = time.monotonic()
    assert len(server.finished) == 1, "exactly one complete media download"
    first = recorder.segments[0][0]
    print(
        f"\nfirst segment {first - submitted:.2f} s after submit; server sent its last byte at "
        f"{server.finished[0] - submitted:.2f} s; transcript done at {ended - submitted:.2f} s"
    )
    assert first < server.finished[0], "the first segment came only after the download had ended"
    assert [s for _, s in recorder.segments] == list(transcript.segments)

    whole = service.transcribe_source(
        Source(kind="file", original=str(long_webm), path=long_webm), settings=stream_settings
    )
    assert _timed(transcript.segments) == _timed(whole.segments)
    assert transcript.duration == whole.duration
    assert "museum" in transcript.text.lower()


def test_served_job_sends_its_first_segment_event_before_the_download_ends(
    throttled: Any, long_webm: Path, tmp_path: Path
) -> None:
    with (
        running_server(tmp_path) as srv,
        httpx.Client(base_url=srv.base, headers=srv.headers, timeout=120) as client,
    ):
        server = throttled(long_webm, seconds=16)
        submitted = time.monotonic()
        job = client.post("/v1/jobs", json={"source": server.url(), "options": {"formats": ["json"]}})
        assert job.status_code in (200, 201, 202), job.text
        job_id = job.json()["id"]
        events = job_events(client, job_id)
        result = client.get(f"/v1/jobs/{job_id}/result", params={"format": "json"}).json()
    segments = [(json.loads(data), at) for name, data, at in events if name == "segment"]
    assert segments and server.finished, events[-3:]
    print(
        f"\nserve: first segment event {segments[0][1] - submitted:.2f} s after submit; server sent its last "
        f"byte at {server.finished[0] - submitted:.2f} s"
    )
    assert segments[0][1] < server.finished[0], "the first segment event came only after the download had ended"
    assert " ".join(s["text"] for s, _ in segments) == result["text"]


def test_index_at_the_end_falls_back_to_waiting_for_the_whole_file(
    throttled: Any, make_media: Any, stream_settings: Settings
) -> None:
    m4a = make_media("moov-last.m4a")  # ffmpeg writes the moov atom after the media data by default
    assert b"moov" not in m4a.read_bytes()[:4096]
    server = throttled(m4a, seconds=2)
    recorder = Recorder()
    transcript = service.transcribe_source(
        _source(server.url(), stream_settings), settings=stream_settings, progress=recorder
    )
    assert server.finished and recorder.segments[0][0] >= server.finished[0]
    whole = service.transcribe_source(Source(kind="file", original=str(m4a), path=m4a), settings=stream_settings)
    assert _timed(transcript.segments) == _timed(whole.segments)


def test_download_failing_midway_gives_the_downloads_error_and_no_result(
    throttled: Any, long_webm: Path, stream_settings: Settings, tmp_path: Path
) -> None:
    size = long_webm.stat().st_size
    server = throttled(long_webm, seconds=4, fail_after=size // 2)
    with pytest.raises(TubesumError) as downloaded:  # what download-then-decode says about this server
        fetch.fetch_audio(_source(server.url(), stream_settings), settings=stream_settings, workdir=tmp_path / "a")

    recorder = Recorder()
    with pytest.raises(TubesumError) as streamed:
        service.transcribe_source(_source(server.url(), stream_settings), settings=stream_settings, progress=recorder)
    assert type(streamed.value) is type(downloaded.value)
    assert streamed.value.code == downloaded.value.code
    assert list((tmp_path / "a").iterdir()) == []
    assert stream_settings.work_dir is not None and list(stream_settings.work_dir.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("download ")]


def test_size_limit_exceeded_mid_stream_is_size_limit(
    throttled: Any, long_wav: Path, stream_settings: Settings, tmp_path: Path
) -> None:
    assert long_wav.stat().st_size > 2_200_000
    server = throttled(long_wav, seconds=4, content_length=False)  # only the running download can tell
    limited = stream_settings.model_copy(update={"max_filesize_mb": 2})
    source = _source(server.url(), limited)
    info = fetch.probe(source, settings=limited)
    assert fetch.streamable(info)
    with pytest.raises(SizeLimitError) as raised:
        service.transcribe_source(source, settings=limited)
    assert raised.value.code == "size_limit"
    assert not server.finished, "the download went on past the limit"

    workdir = tmp_path / "w"
    with (
        pytest.raises(SizeLimitError),
        fetch.stream_audio(source, settings=limited, workdir=workdir, info=info) as stream,
        stream.reader() as reader,
    ):
        while reader.read(65536):
            pass
    assert list(workdir.iterdir()) == []


def test_cancellation_mid_download_stops_both_sides(
    throttled: Any, long_webm: Path, stream_settings: Settings, tmp_path: Path
) -> None:
    server = throttled(long_webm, seconds=12)
    recorder = Recorder(cancel_at="transcribe")
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        service.transcribe_source(_source(server.url(), stream_settings), settings=stream_settings, progress=recorder)
    took = time.monotonic() - started
    assert took < 11, f"cancellation waited for the download ({took:.1f} s)"
    assert not recorder.segments
    assert not [t for t in threading.enumerate() if t.name.startswith("download ")], "the download still runs"
    wait_until = time.monotonic() + 5
    while not server.aborted and time.monotonic() < wait_until:
        time.sleep(0.1)
    assert server.aborted and not server.finished, "the server went on sending to nobody"
    assert stream_settings.work_dir is not None and list(stream_settings.work_dir.iterdir()) == []


def test_streamable_only_for_one_plain_http_file() -> None:
    assert fetch.streamable({"protocol": "https", "url": "https://x/a.webm"})
    assert not fetch.streamable({"protocol": "m3u8_native"})
    assert not fetch.streamable({"protocol": "https", "requested_formats": [{}, {}]})
    assert not fetch.streamable({"_type": "playlist", "protocol": "https"})


def test_growing_file_blocks_until_bytes_arrive_and_raises_the_writers_error(tmp_path: Path) -> None:
    growth = Growth()
    part = tmp_path / "a.webm.part"
    seen: list[bytes] = []

    def read_all() -> None:
        with growth.reader() as reader:
            seen.append(reader.read(4))
            reader.seek(2)
            seen.append(reader.read(4))
            seen.append(reader.read(100))
            seen.append(reader.read(100))
            reader.seek(-2, 2)  # SEEK_END: the end is known once the writer is done
            seen.append(reader.read(100))

    thread = threading.Thread(target=read_all)
    thread.start()
    time.sleep(0.2)
    assert seen == []  # nothing to open yet
    part.write_bytes(b"abcdef")
    growth.started(part)
    growth.grew(6)
    time.sleep(0.3)
    assert seen == [b"abcd", b"cdef"]  # the third read waits for more
    with part.open("ab") as f:
        f.write(b"gh")
    growth.grew(8)
    time.sleep(0.3)
    part.rename(tmp_path / "a.webm")  # yt-dlp's final rename does not disturb an open reader
    growth.finish(tmp_path / "a.webm")
    thread.join(5)
    assert seen == [b"abcd", b"cdef", b"gh", b"", b"gh"]

    failing = Growth()
    failing.started(tmp_path / "a.webm")
    reader = failing.reader()
    reader.seek(100)
    boom = SizeLimitError("too big")
    threading.Timer(0.2, failing.fail, args=(boom,)).start()
    with pytest.raises(SizeLimitError):
        reader.read(10)
    reader.close()
