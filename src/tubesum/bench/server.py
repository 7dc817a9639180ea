"""Real servers on loopback for the bench: ``tubesum serve`` as a child process, and a static media server.

The API takes URLs only, so the bench serves its audio from 127.0.0.1 and lets the server fetch it (generic
URLs and loopback addresses are allowed for this server only, as in the end-to-end tests).
"""

from __future__ import annotations

import contextlib
import http.server
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tubesum.bench.proc import Child, GpuSampler, start
from tubesum.bench.records import BenchError, ProcessStats

__all__ = ["MediaServer", "ServeProcess", "free_port", "media_server", "wait_until"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, *, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` passes (BenchError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise BenchError(f"Timed out after {timeout:g} s waiting for {what}.")


@dataclass
class MediaServer:
    root: Path
    port: int

    def url(self, name: str, *, tag: str = "") -> str:
        """Return the URL of ``name``; a distinct ``tag`` makes a distinct source (no cache hit)."""
        return f"http://127.0.0.1:{self.port}/{name}" + (f"?run={tag}" if tag else "")


@contextlib.contextmanager
def media_server(root: Path) -> Iterator[MediaServer]:
    """Serve the files in ``root`` on a free 127.0.0.1 port for the duration of the block."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # yt-dlp probes and hangs up
                super().handle()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="bench-media", daemon=True)
    thread.start()
    try:
        yield MediaServer(root=root, port=int(httpd.server_address[1]))
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class ServeProcess:
    """``tubesum serve`` on a free loopback port with its own data dir and one API key."""

    workdir: Path
    env: Mapping[str, str]
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    headers: dict[str, str] = field(default_factory=dict)
    proc: Child | None = None
    gpu: GpuSampler | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "serve.log"

    def start(self) -> None:
        from tubesum.jobs.db import make_engine
        from tubesum.jobs.migrate import upgrade
        from tubesum.jobs.store import SqlJobStore

        data = self.workdir / "data"
        url = f"sqlite:///{data / 'tubesum.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            _, token = SqlJobStore(engine).create_key("bench")
        finally:
            engine.dispose()
        self.headers = {"Authorization": f"Bearer {token}"}
        env = {
            **self.env,
            "TUBESUM_PORT": str(self.port),
            "TUBESUM_HOST": "127.0.0.1",
            "TUBESUM_DATA_DIR": str(data),
            "TUBESUM_WORK_DIR": str(self.workdir / "work"),
            "TUBESUM_ALLOW_GENERIC_URLS": "true",
            "TUBESUM_ALLOW_PRIVATE_ADDRESSES": "true",  # the bench's media server is on loopback
            "TUBESUM_READY_MIN_FREE_MB": "1",
            "TUBESUM_RATE_LIMIT_PER_MINUTE": "0",
            "TUBESUM_MAX_ACTIVE_JOBS_PER_KEY": "0",
            "TUBESUM_MAX_AUDIO_HOURS_PER_DAY": "0",
            "TUBESUM_LOG_FORMAT": "json",
            "TUBESUM_LOG_LEVEL": "WARNING",
            "TUBESUM_SHUTDOWN_GRACE": "2",
        }
        self.gpu = GpuSampler().__enter__()
        self.proc = start([sys.executable, "-m", "tubesum", "serve", *self.args], env=env, log=self.log)

        def ready() -> bool:
            assert self.proc is not None
            if not self.proc.running():
                raise BenchError("tubesum serve exited at start.", log_tail=self.log.read_text()[-2000:])
            try:
                return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=120, what="tubesum serve to become ready", interval=0.1)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=600, **kwargs)

    def stop(self) -> ProcessStats:
        """SIGTERM the server and reap it: its wall time since start, CPU time and peak RSS."""
        if self.proc is None:
            raise BenchError("The server was never started.")
        self.proc.signal(signal.SIGTERM)
        wall, cpu, rss, code = self.proc.wait(timeout=120)
        gpu = None
        if self.gpu is not None:
            self.gpu.__exit__(None, None, None)
            gpu = self.gpu.summary()
        return ProcessStats(wall_s=wall, cpu_s=cpu, peak_rss_mb=rss, returncode=code, gpu=gpu)

    def kill(self) -> None:
        """Last resort on errors: SIGKILL and reap (no figures)."""
        if self.proc is not None and self.proc.running():
            self.proc.signal(signal.SIGKILL)
            with contextlib.suppress(BenchError):
                self.proc.wait(timeout=30)
