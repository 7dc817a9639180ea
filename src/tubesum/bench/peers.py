"""Peer servers measured beside tubesum: OpenAI-style ``POST /v1/audio/transcriptions`` (multipart ``file``).

Two are known:
- ``reference``: benchmarks/peers/reference_server.py in the source tree, a stdlib HTTP server that does one
  synchronous faster-whisper call per request (one at a time, behind a lock) with tubesum's decoding options.
  It is a yardstick written for this bench, not a product.
- ``faster-whisper-server``: the third-party PyPI package of that name (andyjjrt, FastAPI), installed in its own
  virtual environment (it is not a tubesum dependency); pass its executable with ``--peer-fws``.

Each peer runs as a child process on a free loopback port; levels of concurrency are sent as at once, like the
tubesum sweep, and the peer process's CPU time and peak RSS are taken when it is stopped.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import tubesum
from tubesum.bench.proc import start
from tubesum.bench.records import BenchError
from tubesum.bench.server import free_port, wait_until
from tubesum.bench.setup import BenchSetup
from tubesum.bench.sweep import concurrent_batch

__all__ = ["PeerSpec", "known_peers", "measure_peer", "reference_server_path"]


@dataclass(frozen=True, slots=True)
class PeerSpec:
    name: str
    description: str
    cmd: tuple[str, ...]  # {port} is replaced by the chosen port
    model_name: str = "whisper-1"


def reference_server_path() -> Path | None:
    """Return benchmarks/peers/reference_server.py of the source tree tubesum runs from (None when installed)."""
    path = Path(tubesum.__file__).resolve().parents[2] / "benchmarks" / "peers" / "reference_server.py"
    return path if path.is_file() else None


def _fws_config(setup: BenchSetup, workdir: Path) -> Path:
    o = setup.options
    config = {
        "models": [
            {
                "name": "bench",
                "path": str(setup.model_path),
                "batch_size": o.batch_size if setup.batched else 1,
                "model_options": {
                    "device": setup.device.device,
                    "compute_type": setup.device.compute_type,
                    "cpu_threads": setup.settings.cpu_threads,
                },
                "transcribe_options": {
                    "beam_size": o.beam_size,
                    "vad_filter": o.vad_filter,
                    "language": o.language,
                    "word_timestamps": o.word_timestamps,
                },
            }
        ]
    }
    path = workdir / "fws.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def known_peers(setup: BenchSetup, workdir: Path, *, fws: str | None) -> list[PeerSpec]:
    """Return the peers that can run here: the reference server (source tree) and faster-whisper-server."""
    peers: list[PeerSpec] = []
    reference = reference_server_path()
    if reference is not None:
        peers.append(
            PeerSpec(
                "reference",
                "stdlib HTTP server, one synchronous faster-whisper call per request behind a lock "
                "(benchmarks/peers/reference_server.py), tubesum's decoding options",
                (*_reference_cmd(setup, reference), "--port", "{port}"),
            )
        )
    if fws:
        peers.append(
            PeerSpec(
                "faster-whisper-server",
                "PyPI faster-whisper-server 0.0.x (andyjjrt, FastAPI, OpenAI-compatible), own venv; same model, "
                "device and decoding options through its YAML config",
                (fws, "--config", str(_fws_config(setup, workdir)), "--host", "127.0.0.1", "--port", "{port}"),
                model_name="bench",
            )
        )
    return peers


def _reference_cmd(setup: BenchSetup, script: Path) -> list[str]:
    base = setup.baseline_cmd(Path("unused"))
    options = base[base.index("--model") :]  # the same model and decoding flags as the baseline
    return [sys.executable, str(script), *options]


def _transcribe(client: httpx.Client, audio: Path, model_name: str) -> dict[str, Any]:
    started = time.perf_counter()
    with audio.open("rb") as handle:
        answer = client.post(
            "/v1/audio/transcriptions",
            files={"file": (audio.name, handle, "audio/wav")},
            data={"model_name": model_name, "model": model_name, "response_format": "json"},
        )
    if answer.status_code != 200:
        raise BenchError(f"A peer answered HTTP {answer.status_code}.", body=answer.text[:300])
    return {"client_s": round(time.perf_counter() - started, 4), "words": len(answer.json().get("text", "").split())}


def measure_peer(
    peer: PeerSpec, audio: Path, *, levels: Sequence[int], workdir: Path, env: dict[str, str]
) -> dict[str, Any]:
    """Start ``peer``, warm it with one request (model load), run the concurrency levels, stop it."""
    port = free_port()
    cmd = [part.replace("{port}", str(port)) for part in peer.cmd]
    log = workdir / f"peer-{peer.name}.log"
    proc = start(cmd, env=env, log=log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=3600) as client:

            def up() -> bool:
                if not proc.running():
                    raise BenchError(f"Peer {peer.name} exited at start.", log_tail=log.read_text()[-1500:])
                try:
                    return client.get("/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(up, timeout=120, what=f"peer {peer.name}", interval=0.1)
            first = _transcribe(client, audio, peer.model_name)  # the first request loads the model
            batches = [
                concurrent_batch(lambda _i: _transcribe(client, audio, peer.model_name), level) for level in levels
            ]
    finally:
        proc.signal(signal.SIGTERM)
        wall, cpu, rss, _code = proc.wait(timeout=120)
    return {
        "name": peer.name,
        "description": peer.description,
        "first_request_s": first["client_s"],
        "levels": batches,
        "process": {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_rss_mb": round(rss, 1)},
    }
