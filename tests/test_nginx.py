"""deploy/nginx/tubesum.conf with the real nginx in front of a real `tubesum serve` on loopback.

The site is rendered exactly as deploy/scripts/install.sh renders it for a VM (its own sed command, run here),
then moved to free loopback ports; TLS is added the way ``certbot --nginx`` does it (a ``listen … ssl`` and the
certificate lines in the same server block), with a self-signed certificate made by openssl for this test.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from conftest import LoopbackServer
from servers import Server, free_port, make_server, nginx_command, wait_for

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "deploy" / "scripts" / "install.sh"


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is required for this test (scripts/bootstrap --test installs it)")
    return path


def render_like_install_sh(domain: str) -> str:
    """Run install.sh's own sed command that turns the compose template into the VM's site config."""
    script = INSTALL.read_text()
    match = re.search(r"^(sed -e 's#http://api:8000#.*?\"\$repo/deploy/nginx/tubesum\.conf\")", script, re.M | re.S)
    assert match, "install.sh no longer renders deploy/nginx/tubesum.conf with sed"
    command = match.group(1).replace("\\\n", " ")
    result = subprocess.run(
        ["bash", "-c", f"repo={ROOT!s}; domain={domain}; {command}"], capture_output=True, text=True, check=True
    )
    return result.stdout


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    key, crt = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = make_server(tmp_path, TUBESUM_FORWARDED_ALLOW_IPS="127.0.0.1")
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


class Proxy:
    def __init__(self, http: str, https: str, error_log: Path) -> None:
        self.http, self.https, self.error_log = http, https, error_log


@pytest.fixture
def proxy(server: Server, cert: tuple[Path, Path], tmp_path: Path) -> Iterator[Proxy]:
    nginx = _tool("nginx")
    site = render_like_install_sh("localhost")
    assert "resolver" not in site and "listen 80;" in site and "http://127.0.0.1:8000" in site
    http_port, https_port = free_port(), free_port()
    logs = tmp_path / "nginx-logs"
    logs.mkdir()
    crt, key = cert
    site = (
        site.replace("http://127.0.0.1:8000", server.base)
        .replace("/var/log/nginx/", f"{logs}/")
        .replace(
            "listen 80;",
            f"listen 127.0.0.1:{http_port};\n    listen 127.0.0.1:{https_port} ssl;\n"
            f"    ssl_certificate {crt};\n    ssl_certificate_key {key};",
        )
    )
    base = nginx_command(nginx, tmp_path, site)
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr and "test is successful" in check.stderr
    proc = subprocess.Popen([*base, "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{http_port}"
        wait_for(lambda: _ok(f"{url}/nginx-healthz"), timeout=20, what="nginx to answer")
        yield Proxy(url, f"https://localhost:{https_port}", logs / "tubesum.error.log")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_proxies_health_over_http_and_tls_and_hides_metrics(
    proxy: Proxy, server: Server, cert: tuple[Path, Path]
) -> None:
    plain = httpx.get(f"{proxy.http}/healthz", timeout=5)
    assert plain.status_code == 200 and plain.json()["status"] == "ok"
    assert re.fullmatch(r"[0-9a-f]{32}", plain.headers["X-Request-ID"])  # nginx's $request_id, kept by the API
    assert plain.headers.get("Server") == "nginx"  # server_tokens off: no version
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert[0]))) as tls:
        ready = tls.get(f"{proxy.https}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert tls.get(f"{proxy.https}/v1/jobs", timeout=5).status_code == 401  # auth is the API's
        assert tls.get(f"{proxy.https}/v1/jobs", headers=server.headers, timeout=5).status_code == 200
    assert httpx.get(f"{server.base}/metrics", timeout=5).status_code == 200
    assert httpx.get(f"{proxy.http}/metrics", timeout=5).status_code == 404


def test_body_limits_nginx_refuses_big_bodies_and_the_api_smaller_ones(proxy: Proxy, server: Server) -> None:
    headers = {**server.headers, "Content-Type": "application/json"}
    huge = httpx.post(f"{proxy.http}/v1/jobs", content=b"x" * (2 * 1024 * 1024), headers=headers, timeout=10)
    assert huge.status_code == 413
    assert "nginx" in huge.text and huge.headers["content-type"].startswith("text/html")  # nginx, not the API
    big = json.dumps({"source": "https://youtu.be/dQw4w9WgXcQ", "pad": "x" * 100_000}).encode()
    mid = httpx.post(f"{proxy.http}/v1/jobs", content=big, headers=headers, timeout=10)
    assert mid.status_code == 413, mid.text
    assert mid.headers["content-type"].startswith("application/problem+json")  # the API's TUBESUM_MAX_BODY_KB


def test_progress_events_stream_through_nginx_as_they_happen(
    proxy: Proxy, server: Server, http_server: LoopbackServer, make_media: Any
) -> None:
    shutil.copy(make_media("speech.m4a"), http_server.root / "speech.m4a")
    with httpx.Client(base_url=proxy.http, headers=server.headers, timeout=60) as client:
        created = client.post(
            "/v1/jobs", json={"source": http_server.url("speech.m4a"), "options": {"formats": ["txt"]}}
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        arrivals: list[tuple[float, str, dict[str, Any]]] = []
        state_at_first_event = None
        with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            for sse in source.iter_sse():
                arrivals.append((time.monotonic(), sse.event, json.loads(sse.data) if sse.data else {}))
                if state_at_first_event is None:  # asked of the API directly, while the stream is open
                    direct = httpx.get(f"{server.base}/v1/jobs/{job_id}", headers=server.headers, timeout=5)
                    state_at_first_event = direct.json()["state"]
                if sse.event == "end":
                    break
    assert arrivals[-1][1] == "end" and arrivals[-1][2]["state"] == "succeeded"
    progress = [a for a in arrivals if a[1] == "progress"]
    assert len(progress) >= 3, arrivals
    # Unbuffered: the first event reached us while the job was still going, well before the last one.
    assert state_at_first_event in {"queued", "running"}
    assert arrivals[-1][0] - arrivals[0][0] > 0.3
    assert len({round(t, 2) for t, _, _ in arrivals}) >= 3  # not one burst at the end
