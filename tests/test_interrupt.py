"""Ctrl-C in a real `tubesum` process: exit 130, no temporary files, no half-written outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def long_speech(media_dir: Path, speech_wav: Path) -> Path:
    """About a minute of speech (the sample repeated), long enough to interrupt mid-transcription."""
    out = media_dir / "long.wav"
    if not out.exists():
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-stream_loop", "8", "-i", str(speech_wav), str(out)],
            check=True,
        )
    return out


def test_sigint_during_transcription_exits_130_and_cleans_up(tmp_path: Path, long_speech: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    env = {
        **os.environ,
        "TUBESUM_MODEL": "tiny.en",
        "TUBESUM_DEVICE": "cpu",
        "TUBESUM_WORK_DIR": str(work),
        "TUBESUM_VAD_FILTER": "false",  # sequential decoding: slow enough to be caught mid-way
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tubesum", "transcribe", str(long_speech), "-o", str(out), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (work.exists() and any(work.iterdir())):
        time.sleep(0.05)
    assert work.exists() and any(work.iterdir()), "the job's work dir never appeared"
    time.sleep(1.0)  # let it get into model loading / decoding
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Interrupted" in stderr
    assert stdout == "", "no output paths are printed for an interrupted job"
    assert list(work.iterdir()) == [], "temporary job directory left behind"
    assert not out.exists() or list(out.iterdir()) == [], "no outputs after an interrupted job"
