"""The CLI end to end through CliRunner: real model, real files, documented exit codes, no leftovers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import SPEECH_WORDS, word_overlap
from tubesum.cli import cli


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every directory into tmp_path and use the bundled model on the CPU; return the work dir."""
    work = tmp_path / "work"
    monkeypatch.setenv("TUBESUM_MODEL", "tiny.en")
    monkeypatch.setenv("TUBESUM_DEVICE", "cpu")
    monkeypatch.setenv("TUBESUM_WORK_DIR", str(work))
    monkeypatch.setenv("TUBESUM_MODEL_CACHE_DIR", str(tmp_path / "models"))
    return work


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_no_leftovers(work: Path) -> None:
    assert not work.exists() or list(work.iterdir()) == [], "temporary job directories were left behind"


def test_sample_writes_every_format(env: Path, tmp_path: Path) -> None:
    result = run("transcribe", "--sample", "-f", "all", "-o", str(tmp_path / "o"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["results"][0]
    assert report["ok"] and report["origin"] == "whisper" and report["model"] == "tiny.en"
    assert sorted(report["files"]) == ["json", "md", "pdf", "srt", "txt", "vtt"]
    for path in report["files"].values():
        assert Path(path).parent == tmp_path / "o" and Path(path).stat().st_size > 0
    text = Path(report["files"]["txt"]).read_text()
    assert word_overlap({"sample", "recording", "transcribed", "computer", "network", "subtitles"}, text) >= 0.6
    assert_no_leftovers(env)


def test_file_source_with_selected_formats_prints_paths(env: Path, speech_wav: Path) -> None:
    result = run("transcribe", str(speech_wav), "-f", "srt,json", "-o", "subs", "--word-timestamps")
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert sorted(p.suffix for p in paths) == [".json", ".srt"]
    doc = json.loads(Path("subs/speech.json").read_text())
    assert word_overlap(SPEECH_WORDS, doc["text"]) >= 0.7
    assert any(seg["words"] for seg in doc["segments"])


@pytest.mark.parametrize(
    ("args", "exit_code", "code"),
    [
        (["missing.mp3"], 3, "file_not_found"),
        (["https://youtube.com.evil.tld/watch?v=dQw4w9WgXcQ"], 3, None),
        (["javascript:alert(1)"], 3, "invalid_url"),
        (["https://example.com/video.mp4"], 3, "generic_url_disabled"),
    ],
)
def test_bad_sources_exit_3_with_a_clear_message(env: Path, args: list[str], exit_code: int, code: str | None) -> None:
    result = run("transcribe", *args)
    assert result.exit_code == exit_code, result.output
    assert result.stderr.startswith("Error [") and "Traceback" not in result.output
    if code:
        assert f"[{code}]" in result.stderr
    assert_no_leftovers(env)


def test_non_media_and_empty_files(env: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.mp3").write_text("not audio\n" * 100)
    (tmp_path / "empty.m4a").write_bytes(b"")
    result = run("transcribe", "notes.mp3", "empty.m4a", "--json")
    assert result.exit_code == 3
    codes = [r["error"]["code"] for r in json.loads(result.stdout)["results"]]
    assert codes == ["not_media", "empty_audio"]
    assert_no_leftovers(env)
    assert not Path("outputs").exists() or list(Path("outputs").iterdir()) == []


def test_unknown_model_exits_5_and_says_what_to_do(env: Path, speech_wav: Path) -> None:
    result = run("transcribe", str(speech_wav), "--model", "nonexistent-model")
    assert result.exit_code == 5
    assert "[model_not_found]" in result.stderr and "Unknown model 'nonexistent-model'" in result.stderr
    assert_no_leftovers(env)


def test_unwritable_output_dir_exits_6_before_any_work(env: Path, speech_wav: Path, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    result = run("transcribe", str(speech_wav), "-o", str(tmp_path / "blocker" / "out"))
    assert result.exit_code == 6
    assert "[output_unwritable]" in result.stderr
    assert_no_leftovers(env)


def test_one_bad_source_does_not_stop_the_others(env: Path, speech_wav: Path) -> None:
    result = run("transcribe", "missing.wav", str(speech_wav), "-f", "txt", "-q")
    assert result.exit_code == 3
    assert Path("outputs/speech.txt").exists()
    assert "[file_not_found]" in result.stderr


def test_usage_errors_exit_2(env: Path) -> None:
    assert run("transcribe").exit_code == 2
    bad_format = CliRunner().invoke(cli, ["transcribe", "--sample", "-f", "docx"])
    assert bad_format.exit_code == 2 and "unknown format 'docx'" in bad_format.output


def test_invalid_setting_exits_2_without_echoing_secrets(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUBESUM_DEVICE", "tpu")
    monkeypatch.setenv("HF_TOKEN", "hf_doNotPrintThis123")
    result = run("doctor")
    assert result.exit_code == 2
    assert "device" in result.stderr and "hf_doNotPrintThis123" not in result.output


def test_doctor_passes_with_the_bundled_model(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_doNotPrintThis123")
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert checks["models:configured"]["status"] == "ok"
    assert checks["hf_token"]["detail"] == "set"
    assert {"python", "pyav", "ctranslate2", "cuda", "yt-dlp", "disk:output_dir"} <= set(checks)
    assert "hf_doNotPrintThis123" not in result.output


def test_doctor_fails_when_the_configured_model_is_missing(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUBESUM_MODEL", "small")  # not in the empty cache, not bundled
    result = run("doctor")
    assert result.exit_code == 1
    assert "models:configured" in result.stdout and "tubesum models pull small" in result.stdout


def test_models_list_and_path(env: Path, tiny_model_path: Path) -> None:
    listed = json.loads(run("models", "list", "--json").stdout)
    tiny = next(m for m in listed["models"] if m["name"] == "tiny.en")
    assert tiny["available"] and tiny["origin"] == "bundled"
    assert run("models", "path", "tiny.en").stdout.strip() == str(tiny_model_path)
    missing = run("models", "path", "large-v3")
    assert missing.exit_code == 5 and "tubesum models pull large-v3" in missing.stderr


def test_models_status_shows_each_kind_with_its_estimate_and_what_is_loaded(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tubesum.config import Settings
    from tubesum.pipeline.models import clear_loaded_models, load_model

    monkeypatch.setenv("TUBESUM_SUMMARY_MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")
    clear_loaded_models()
    rows = {r["kind"]: r for r in json.loads(run("models", "status", "--json").stdout)["models"]}
    assert sorted(rows) == ["diarize", "summary", "whisper"]
    assert rows["whisper"] | {"loaded": None} == {
        "kind": "whisper",
        "name": "tiny.en",
        "device": "cpu",
        "estimate_mb": 360,  # tiny at int8 on the CPU
        "estimate_basis": "table",
        "loaded": None,
    }
    assert rows["summary"]["estimate_mb"] == int(135e6 * 4 * 1.2 / 2**20) + 512  # float32 on the CPU
    assert rows["summary"]["estimate_basis"] == "name" and rows["diarize"]["estimate_mb"] == 1500
    assert not any(r["loaded"] for r in rows.values())
    load_model(Settings(_env_file=None))  # type: ignore[call-arg]  # this process now holds tiny.en
    rows = {r["kind"]: r for r in json.loads(run("models", "status", "--json").stdout)["models"]}
    assert rows["whisper"]["loaded"] and not rows["summary"]["loaded"]
    text = run("models", "status").stdout
    assert "whisper" in text and "~   360 MB on cpu" in text and "loaded" in text


def test_models_pull_without_network_fails_cleanly_and_hides_the_token(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_doNotPrintThis123")  # HF_HUB_OFFLINE=1 is set for every test
    result = run("models", "pull", "base")
    assert result.exit_code == 5
    assert "Could not download model 'base'" in result.stderr
    assert "hf_doNotPrintThis123" not in result.output


def test_json_report_says_which_device_ran_and_why(env: Path, speech_wav: Path) -> None:
    result = run("transcribe", str(speech_wav), "-f", "txt", "--json")
    device = json.loads(result.stdout)["results"][0]["device"]
    assert device["device"] == "cpu" and device["compute_type"] == "int8"
    assert device["reason"] == "cpu requested"


def test_progress_bars_draw_on_a_terminal_and_stay_silent_otherwise() -> None:
    import io

    from rich.console import Console

    from tubesum.cli.progress import cli_progress
    from tubesum.progress import no_progress

    screen = io.StringIO()
    with cli_progress("talk", enabled=True, console=Console(file=screen, force_terminal=True, width=120)) as bar:
        bar("download", 512 * 1024, 1024 * 1024)
        bar("transcribe", 75.0, 150.0)
    drawn = screen.getvalue()
    assert "Downloading audio talk" in drawn and "Transcribing talk" in drawn
    assert "1:15/2:30" in drawn and "50%" in drawn
    piped = io.StringIO()
    with cli_progress("talk", enabled=True, console=Console(file=piped, force_terminal=False)) as bar:
        assert bar is no_progress
    assert piped.getvalue() == ""


def test_summarize_writes_a_labelled_extractive_summary_into_md_and_json(env: Path, speech_wav: Path) -> None:
    result = run("transcribe", str(speech_wav), "--summarize", "--summary-backend", "extractive", "-f", "md,json", "-q")
    assert result.exit_code == 0, result.output
    md = Path("outputs/speech.md").read_text()
    assert "## Summary" in md and "Extractive summary" in md and "### Key points" in md
    doc = json.loads(Path("outputs/speech.json").read_text())
    summary = doc["summary"]
    assert summary["method"] == "extractive" and summary["key_points"]
    starts = {round(w["start"], 3) for seg in doc["segments"] for w in seg["words"]} | {
        round(seg["start"], 3) for seg in doc["segments"]
    }
    for point in summary["key_points"]:
        assert point["text"] in doc["text"] or point["text"].rstrip(".") in doc["text"]
        assert point["start"] is None or round(point["start"], 3) in starts


def test_diarize_without_the_extra_exits_7_before_any_work(
    env: Path, speech_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.startswith("pyannote") else real(name, *a)
    )
    result = run("transcribe", str(speech_wav), "--diarize", "-f", "txt")
    assert result.exit_code == 7
    assert "[missing_extra]" in result.stderr and "pip install 'tubesum[diarize]'" in result.stderr
    assert list(Path("outputs").glob("*")) == [], "nothing written"


def test_diarize_without_a_token_exits_5_and_says_where_to_get_one(env: Path, speech_wav: Path) -> None:
    pytest.importorskip("pyannote.audio")
    result = run("transcribe", str(speech_wav), "--diarize", "-f", "txt")
    assert result.exit_code == 5
    assert "[hf_token_missing]" in result.stderr and "https://hf.co/settings/tokens" in result.stderr
    assert list(Path("outputs").glob("*")) == [], "nothing written"
