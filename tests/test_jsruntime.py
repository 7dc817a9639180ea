"""The JavaScript runtime yt-dlp needs for YouTube's player challenges: found, passed by path, really run.

Everything here runs the real pieces: the Deno binary of the ``deno`` wheel, yt-dlp's own runtime discovery and
its Deno challenge provider, and the yt-dlp-ejs solver scripts. Only YouTube's player is missing (no network),
so the solver is handed a script that is not a player and must answer with its own "unexpected structure".
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from yt_dlp.extractor.youtube.jsc._builtin.deno import DenoJCP
from yt_dlp.extractor.youtube.jsc.provider import (
    JsChallengeProviderError,
    JsChallengeRequest,
    JsChallengeType,
    NChallengeInput,
)
from yt_dlp.extractor.youtube.pot._director import YoutubeIEContentProviderLogger

from inprocess import client_for, migrated_store
from tubesum import doctor
from tubesum.cli import cli
from tubesum.config import Settings
from tubesum.errors import ConfigError
from tubesum.pipeline import jsruntime
from tubesum.pipeline.ytdlp import base_params, open_ydl


@pytest.fixture(autouse=True)
def _fresh_lookup() -> Iterator[None]:
    """Each test finds the runtime itself (the lookups are cached per process)."""
    jsruntime.resolve_js_runtime.cache_clear()
    jsruntime.probe_js_runtime.cache_clear()
    yield
    jsruntime.resolve_js_runtime.cache_clear()
    jsruntime.probe_js_runtime.cache_clear()


@pytest.fixture
def no_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine where the deno wheel was removed and PATH holds no deno, node, bun or qjs."""
    monkeypatch.setattr(jsruntime, "_wheel_deno", lambda: None)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_auto_finds_the_deno_of_the_wheel_and_it_runs() -> None:
    runtime = jsruntime.resolve_js_runtime("auto")
    assert runtime is not None and runtime.name == "deno" and runtime.origin == "deno wheel"
    assert Path(runtime.path).is_file()
    out = subprocess.run([runtime.path, "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.startswith("deno ")


def test_ydl_gets_the_runtime_by_path_and_yt_dlp_reports_it_available(settings: Settings) -> None:
    runtime = jsruntime.resolve_js_runtime("auto")
    assert runtime is not None
    assert base_params(settings)["js_runtimes"] == {"deno": {"path": runtime.path}}
    with open_ydl(settings, url_guard=None) as ydl:
        info = ydl._js_runtimes["deno"].info  # yt-dlp's own discovery, with our options
        assert info is not None and info.path == runtime.path and info.supported
        status = jsruntime.probe_js_runtime(settings.js_runtime)
        assert status.usable and status.version == info.version


def test_the_ejs_solver_runs_in_that_runtime_through_yt_dlps_provider(settings: Settings) -> None:
    import yt_dlp_ejs.yt.solver

    assert "jsc" in yt_dlp_ejs.yt.solver.core() and yt_dlp_ejs.yt.solver.lib()
    with open_ydl(settings, url_guard=None) as ydl:
        ie = ydl.get_info_extractor("Youtube")
        provider = DenoJCP(ie, YoutubeIEContentProviderLogger(ie, "jcp"), {})
        assert provider.is_available(), "yt-dlp found no usable runtime or no solver scripts"
        assert provider.runtime_info.path == jsruntime.resolve_js_runtime("auto").path  # type: ignore[union-attr]
        request = JsChallengeRequest(
            JsChallengeType.N, NChallengeInput("https://www.youtube.com/s/player/0/base.js", ["abcd"]), "vid"
        )
        with pytest.raises(JsChallengeProviderError, match="unexpected structure"):  # the solver's own verdict
            provider._run_js_runtime(provider._construct_stdin("var notAPlayer = 1;", False, [request]))
    # The same run is what doctor and /readyz do: with no writable cache or home it still works.
    status = jsruntime.probe_js_runtime("auto")
    assert status.usable and status.problem is None


def test_a_runtime_that_does_not_run_the_solver_is_not_usable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "deno"
    fake.write_text("#!/bin/sh\necho 'deno 2.9.8 (stable)'\n")  # answers --version, runs nothing
    fake.chmod(0o755)
    status = jsruntime.probe_js_runtime(f"deno:{fake}")
    assert status.version == "2.9.8" and status.supported and not status.usable
    assert status.problem is not None and "solver" in status.problem, status


def test_named_runtimes_none_and_bad_paths(settings: Settings, tmp_path: Path) -> None:
    wheel = jsruntime.resolve_js_runtime("auto")
    assert wheel is not None
    explicit = jsruntime.resolve_js_runtime(f"deno:{wheel.path}")
    assert explicit == jsruntime.JsRuntime("deno", wheel.path, "TUBESUM_JS_RUNTIME")
    assert base_params(settings.model_copy(update={"js_runtime": "none"}))["js_runtimes"] == {}
    with pytest.raises(ConfigError, match="not an executable file"):
        jsruntime.resolve_js_runtime(f"node:{tmp_path / 'missing-node'}")
    with pytest.raises(ValueError, match="unknown JavaScript runtime"):
        Settings(_env_file=None, js_runtime="rhino")  # type: ignore[call-arg]


def test_auto_falls_back_to_a_runtime_on_path(
    no_runtime: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    node = bin_dir / "node"
    node.write_text("#!/bin/sh\necho v22.11.0\n")
    node.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert jsruntime.resolve_js_runtime("auto") == jsruntime.JsRuntime("node", str(node), "PATH")
    status = jsruntime.probe_js_runtime("auto")  # yt-dlp's NodeJsRuntime really ran the script for its version
    assert status.version == "22.11.0" and status.supported
    assert not status.usable, "it only prints a version: the solver cannot run in it"


def test_doctor_fails_naming_the_fix_when_the_runtime_is_removed(no_runtime: None, tmp_path: Path) -> None:
    env = {"TUBESUM_MODEL": "tiny.en", "TUBESUM_MODEL_CACHE_DIR": str(tmp_path / "models"), "COLUMNS": "400"}
    result = CliRunner().invoke(cli, ["doctor", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "js-runtime")
    assert check["status"] == "fail" and check["required"]
    assert "YouTube downloads will fail" in check["detail"]
    assert "deno" in check["hint"] and "TUBESUM_JS_RUNTIME" in check["hint"]


def test_doctor_reports_the_runtime_and_version(settings: Settings) -> None:
    check = {c.name: c for c in doctor.run_checks(settings)}["js-runtime"]
    assert check.status == "ok" and check.detail.startswith("deno 2.") and "yt-dlp-ejs" in check.detail


@pytest.mark.parametrize(("age", "status"), [(10, "ok"), (61, "warn")])
def test_doctor_warns_when_yt_dlp_is_older_than_60_days(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, age: int, status: str
) -> None:
    released = date.today() - timedelta(days=age)
    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda dist: f"{released:%Y.%m.%d}" if dist == "yt-dlp" else real(dist))
    check = {c.name: c for c in doctor.run_checks(settings)}["yt-dlp"]
    assert check.status == status and f"({age} days old)" in check.detail
    assert (check.hint is not None) == (status == "warn")


def test_readyz_reports_the_runtime_and_warns_without_one(settings: Settings, tmp_path: Path) -> None:
    api_settings = settings.model_copy(update={"data_dir": tmp_path / "db", "rate_limit_per_minute": 0})
    store = migrated_store(api_settings)
    with client_for(api_settings, store) as c:
        body = c.get("/readyz").json()
        assert body["checks"]["js_runtime"]["detail"].startswith("deno 2.") and body["warnings"] == []
    with client_for(api_settings.model_copy(update={"js_runtime": "none"}), store) as c:
        reply = c.get("/readyz")
        body = reply.json()
        assert reply.status_code == 200, "uploads still work: a missing runtime is a warning, not 'not ready'"
        assert (
            body["warnings"] == ["js_runtime"]
            and "YouTube downloads will fail" in body["checks"]["js_runtime"]["detail"]
        )


def test_every_install_path_carries_the_solver_and_a_runtime() -> None:
    root = Path(__file__).resolve().parents[1]
    streamlit = (root / "deploy" / "streamlit" / "requirements.txt").read_text()
    assert "\ndeno==" in streamlit and "\nyt-dlp-ejs==" in streamlit  # Streamlit Cloud installs the wheels
    spec = (root / "deploy" / "desktop" / "tubesum-desktop.spec").read_text()
    assert '(deno.find_deno_bin(), "bin")' in spec  # the desktop build (built and run in test_desktop_build)
    # venv, Dockerfile images (and the HF Space and serverless images built FROM them) install from uv.lock:
    lock = (root / "uv.lock").read_text()
    assert '\nname = "deno"' in lock and '\nname = "yt-dlp-ejs"' in lock
