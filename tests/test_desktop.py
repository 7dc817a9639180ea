"""The desktop app offscreen: real window, real QThread worker, real tiny.en on the bundled sample and espeak speech."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SPEECH_WORDS, word_overlap
from tubesum.config import Settings
from tubesum.errors import ModelNotFoundError

pytest.importorskip("PySide6.QtWidgets")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists (also set per test below)

from PySide6.QtWidgets import QApplication

from tubesum.desktop.window import MainWindow
from tubesum.frontends.models import ensure_model, model_is_local
from tubesum.service import sample_path

SAMPLE_WORDS = ("sample", "recording", "computer", "network", "whisper")


@pytest.fixture(scope="module")
def qapp() -> Iterator[QApplication]:
    app = QApplication.instance() or QApplication(["tubesum-test"])
    assert isinstance(app, QApplication)
    yield app
    app.shutdown()  # destroy Qt now, not during interpreter teardown (that order segfaults at exit)


@pytest.fixture
def window(qapp: QApplication, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    win = MainWindow(settings)
    win.show()
    yield win
    win.close()
    win.deleteLater()
    qapp.processEvents()


def wait_until(qapp: QApplication, check: Callable[[], Any], *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        qapp.processEvents()
        time.sleep(0.01)


def test_transcribes_the_sample_and_shows_it(window: MainWindow, qapp: QApplication, tmp_path: Path) -> None:
    window.source.setText(str(sample_path()))
    seen: list[float] = []
    window.start()
    assert not window.start_button.isEnabled() and window.cancel_button.isEnabled()
    wait_until(qapp, lambda: seen.append(window.progress.value()) or window.worker is None)
    assert window.result is not None, window.status.text()
    shown = window.transcript_view.toPlainText().lower()
    assert sum(word in shown for word in SAMPLE_WORDS) >= 3, shown
    assert shown.startswith("[00:0")
    assert window.progress.value() == 1000 and any(0 < v < 1000 for v in seen)  # the bar moved on the way
    assert window.status.text().startswith("Done") and window.save_button.isEnabled()
    menu = window.save_button.menu()
    assert [a.text() for a in menu.actions()] == ["TXT", "SRT", "VTT", "JSON", "MD", "PDF"]

    srt = window.save_to("srt", tmp_path / "saved" / "talk.srt")  # what "Save as…" calls after its dialog
    assert b"-->" in srt.read_bytes()
    pdf = window.save_to("pdf", tmp_path / "talk.pdf")  # not asked for at run time: rendered on demand
    assert pdf.read_bytes().startswith(b"%PDF")
    assert "Saved" in window.status.text()


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 s of seeded espeak-ng speech: more than the service's first 30 s window, so segments come in bursts."""
    from tubesum.bench.corpus import build_corpus

    return build_corpus([45.0], seed=3, cache_dir=tmp_path_factory.mktemp("corpus"))[0].path


def test_the_transcript_view_grows_while_the_job_runs(
    window: MainWindow, qapp: QApplication, long_speech: Path
) -> None:
    window.transcript_view.setPlainText("an earlier run's text")
    window.source.setText(str(long_speech))
    window.start()
    assert window.worker is not None and window.transcript_view.toPlainText() == ""  # a new run starts empty
    seen: list[str] = []  # the view's text while the job runs, looked at from the GUI thread between events

    def running() -> bool:
        if window.result is None:
            seen.append(window.transcript_view.toPlainText())
        return window.worker is None

    wait_until(qapp, running)
    assert window.result is not None, window.status.text()
    final = window.transcript_view.toPlainText()
    segments = window.live.segments  # what the window's slot received through the worker's segment signal
    assert segments == list(window.result.transcript.segments) and len(segments) >= 5  # each once, in order
    shown = list(dict.fromkeys(text for text in seen if text))
    assert shown, "no text was shown before the job ended"
    assert all(final.startswith(text) for text in shown), "the live lines are not the final view's lines"
    assert len(shown[0].splitlines()) < len(final.splitlines()), "the text came in one piece at the end"
    assert window.live.text == final  # every segment reached the view (the last ones just before the result)


def test_url_with_summary_shows_key_points(
    window: MainWindow, qapp: QApplication, http_server: Any, make_media: Any, settings: Settings
) -> None:
    window.settings = settings.model_copy(update={"allow_generic_urls": True})
    media = make_media("speech.m4a")
    (http_server.root / media.name).write_bytes(media.read_bytes())
    window.source.setText(http_server.url(media.name))
    window.summarize.setChecked(True)
    window.start()
    wait_until(qapp, lambda: window.worker is None)
    assert window.result is not None, window.status.text()
    assert word_overlap(SPEECH_WORDS, window.transcript_view.toPlainText()) >= 0.6
    assert "Key points" in window.summary_view.toMarkdown()


def test_cancel_stops_the_work(window: MainWindow, qapp: QApplication) -> None:
    window.source.setText(str(sample_path()))
    window.start()
    assert window.worker is not None
    window.worker.progress.connect(lambda *_: window.cancel())  # cancel at the first progress report
    wait_until(qapp, lambda: window.worker is None)
    assert window.status.text() == "Cancelled." and window.result is None
    assert window.start_button.isEnabled() and not window.cancel_button.isEnabled()


def test_bad_url_says_why_without_starting(window: MainWindow) -> None:
    window.source.setText("https://www.youtube.com/watch?v=x")
    window.start()
    assert window.worker is None
    assert "No valid YouTube video id" in window.status.text() and "invalid_url" in window.status.text()


def test_bundled_model_counts_as_local_and_a_missing_one_is_downloaded(
    window: MainWindow, qapp: QApplication, settings: Settings
) -> None:
    assert model_is_local("tiny.en", settings=settings)
    assert not model_is_local("base.en", settings=settings)
    assert window.model.itemText(window.model.findData("base.en")).endswith("(downloads on first use)")
    reports: list[tuple[float, float | None]] = []
    with pytest.raises(
        ModelNotFoundError, match=r"Could not download model 'base\.en'"
    ):  # offline here: the hub is refused
        ensure_model("base.en", settings=settings, report=lambda mb, total: reports.append((mb, total)))
    window.source.setText(str(sample_path()))
    window.model.setCurrentIndex(window.model.findData("base.en"))
    window.start()
    wait_until(qapp, lambda: window.worker is None)
    assert "Could not download model 'base.en'" in window.status.text()


def self_test(out: Path, *args: str, **env: str) -> dict[str, Any]:
    """Run the `tubesum-desktop` console script's self-test; return its report (stdout and self-test.json agree)."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "tubesum-desktop"), "--self-test", str(out), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads((out / "self-test.json").read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == report
    return report


def test_self_test_entry_point_writes_every_format(tmp_path: Path) -> None:
    out = tmp_path / "selftest"
    report = self_test(out)
    assert report["ok"] and report["model"] == "tiny.en"
    expected = {f"sample.{f}" for f in ("txt", "srt", "vtt", "json", "md", "pdf")}
    assert {p.name for p in out.iterdir()} == expected | {"self-test.json"}
    assert "Downloading the model (first run)" not in " ".join(report["progress"])  # tiny.en is bundled
    assert report["live_lines"] >= 1  # the text grew in the window while the job ran
    assert sum(word in (out / "sample.txt").read_text().lower() for word in SAMPLE_WORDS) >= 3


def test_cli_subcommand_opens_the_same_app() -> None:
    from click.testing import CliRunner

    from tubesum.cli import cli

    result = CliRunner().invoke(cli, ["desktop", "--help"])
    assert result.exit_code == 0 and "--self-test OUTDIR" in result.output


def test_first_run_downloads_the_model_with_progress_then_transcribes(tmp_path: Path, tiny_model_path: Path) -> None:
    from fake_hub import fake_hub

    out, cache = tmp_path / "selftest", tmp_path / "models"
    # base.en is not on this machine: the app pulls it from a (fake, loopback) Hugging Face Hub on first use
    with fake_hub("Systran/faster-whisper-base.en", tiny_model_path) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TUBESUM_MODEL_CACHE_DIR": str(cache)}
        report = self_test(out, "--model", "base.en", **env)
    assert report["ok"] and report["model"] == "base.en"
    assert report["progress"][0].startswith("Downloading the model (first run)"), report["progress"]
    assert "Transcribing" in report["progress"]
    assert any(r.endswith("/model.bin") and r.startswith("GET") for r in hub.requests)
    assert list(cache.glob("models--Systran--faster-whisper-base.en/snapshots/*/model.bin"))


def test_invalid_settings_exit_2_without_their_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tubesum.desktop.app import main

    monkeypatch.setenv("TUBESUM_MAX_DURATION", "-12345")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "max_duration" in err and "-12345" not in err


def test_advanced_options_are_generated_and_build_the_request(window: MainWindow) -> None:
    from PySide6.QtWidgets import QComboBox, QLineEdit

    from tubesum.frontends.session import advanced_fields

    assert [name for name in window.advanced] == [f.name for f in advanced_fields(remote=False)]
    window.source.setText(str(sample_path()))
    beam, task, vad = window.advanced["beam_size"], window.advanced["task"], window.advanced["vad_filter"]
    assert isinstance(beam, QLineEdit) and isinstance(task, QComboBox) and isinstance(vad, QComboBox)
    beam.setText("3")
    task.setCurrentIndex(task.findData("translate"))
    vad.setCurrentIndex(vad.findData("off"))
    options = window.request().options
    assert (options.beam_size, options.task, options.vad_filter) == (3, "translate", False)
    beam.setText("99")
    window.start()
    assert window.worker is None and "beam_size" in window.status.text()
