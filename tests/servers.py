"""A real `tubesum serve` process on loopback for end-to-end, fuzz and load tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tubesum.jobs.db import make_engine
from tubesum.jobs.migrate import upgrade
from tubesum.jobs.store import SqlJobStore

if TYPE_CHECKING:
    import openai

    from tubesum.client import TubesumClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_command(nginx: str, directory: Path, site: str) -> list[str]:
    """Write ``site`` and a minimal nginx.conf around it into ``directory``; return the command that runs it.

    Temporary files, the pid and the main error log stay in ``directory``. As root, nginx's workers would run as
    nobody, who cannot write the test's private temp dirs (bodies over 16 KiB are buffered there): keep root.
    """
    (directory / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"{user}pid {directory}/nginx.pid;\nerror_log {directory}/error.log;\nevents {{}}\nhttp {{\n"
        f"  access_log off;\n  client_body_temp_path {directory}/body;\n  proxy_temp_path {directory}/proxy;\n"
        f"  fastcgi_temp_path {directory}/fcgi;\n  uwsgi_temp_path {directory}/uwsgi;\n"
        f"  scgi_temp_path {directory}/scgi;\n  include {directory}/site.conf;\n}}\n"
    )
    return [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf")]


def wait_for(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Server:
    base: str
    env: dict[str, str]
    db_url: str
    headers: dict[str, str]
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self) -> None:
        assert self.log is not None
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tubesum", "serve", *self.args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")  # type: ignore[union-attr]
            try:
                return httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=60, what="the server to become ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def make_server(
    tmp_path: Path, *, args: tuple[str, ...] = (), db_url: str | None = None, **env_overrides: str
) -> Server:
    """Prepare (not start) a server with its own data dir (or job store ``db_url``), the tiny.en model on CPU
    and one API key.
    """
    port = free_port()
    data = tmp_path / "data"
    db_url = db_url or f"sqlite:///{data / 'tubesum.db'}"
    upgrade(db_url)
    store = SqlJobStore(make_engine(db_url))
    _, token = store.create_key("e2e")
    env = {
        **os.environ,
        "TUBESUM_PORT": str(port),
        "TUBESUM_DATA_DIR": str(data),
        "TUBESUM_WORK_DIR": str(tmp_path / "work"),
        "TUBESUM_MODEL": "tiny.en",
        "TUBESUM_DEVICE": "cpu",
        "TUBESUM_WORKERS": "1",
        "TUBESUM_ALLOW_GENERIC_URLS": "true",
        "TUBESUM_ALLOW_PRIVATE_ADDRESSES": "true",  # the media server is on loopback
        "TUBESUM_READY_MIN_FREE_MB": "1",
        "TUBESUM_LOG_FORMAT": "json",
        "TUBESUM_SHUTDOWN_GRACE": "2",
        "TUBESUM_RATE_LIMIT_PER_MINUTE": "0",
        "TUBESUM_DATABASE_URL": db_url,
    }
    env.update(env_overrides)
    return Server(
        base=f"http://127.0.0.1:{port}",
        env=env,
        db_url=db_url,
        args=args,
        headers={"Authorization": f"Bearer {token}"},
        log=tmp_path / "server.log",
    )


@contextmanager
def running_server(tmp_path: Path, **env_overrides: str) -> Iterator[Server]:
    """Start a server made by :func:`make_server`, yield it, and kill it whatever happens."""
    srv = make_server(tmp_path, **env_overrides)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def openai_client(server: Server, *, api_key: str | None = None, timeout: float = 120) -> openai.OpenAI:
    """The official openai SDK pointed at ``server``, with its key (or ``api_key``) and no retries."""
    import openai

    token = api_key or server.headers["Authorization"].removeprefix("Bearer ")
    return openai.OpenAI(base_url=f"{server.base}/v1", api_key=token, max_retries=0, timeout=timeout)


def tubesum_client(server: Server, **kwargs: Any) -> TubesumClient:
    """tubesum's own Python client pointed at ``server``, with its key."""
    from tubesum.client import TubesumClient

    token = server.headers["Authorization"].removeprefix("Bearer ")
    return TubesumClient(server.base, api_key=token, **kwargs)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, float]]:
    """Parse Server-Sent Events from text lines: (event, data, arrival time)."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data), time.monotonic()
            event, data = "message", []
        elif line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())


def job_events(client: httpx.Client, job_id: str) -> list[tuple[str, str, float]]:
    """Every Server-Sent Event of ``GET /v1/jobs/{id}/events?segments=true`` up to ``end``: (event, data, arrival)."""
    events: list[tuple[str, str, float]] = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events", params={"segments": "true"}) as answer:
        for event in sse_events(answer.iter_lines()):
            events.append(event)
            if event[0] == "end":
                break
    return events
