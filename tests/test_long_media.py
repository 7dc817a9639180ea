"""Long media (issue 20 items 3, 4): decoded and transcribed in windows, so peak memory does not grow with the
length, every window is a cancellation point, and the transcript matches the whole-file path.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SPEECH_WORDS, LoopbackServer, word_overlap
from jobs_fakes import make_long_speech, make_store, new_job, wait_for
from tubesum import service
from tubesum.config import Settings
from tubesum.jobs.executor import LocalExecutor
from tubesum.jobs.runner import CancelEvent, JobCancelled, JobProgress
from tubesum.jobs.types import JobState
from tubesum.pipeline import decode
from tubesum.pipeline.models import load_model
from tubesum.pipeline.transcribe import WhisperOptions, transcribe_speech, transcribe_windows
from tubesum.records import Source

SRC = Path(__file__).resolve().parents[1] / "src"


def _noise(path: Path, seconds: int) -> Path:
    if not path.exists():
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            pytest.fail("ffmpeg is required for this test (apt-get install ffmpeg)")
        source = f"anoisesrc=a=0.002:d={seconds}:seed=1"
        command = [ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", source, "-ar", "16000", "-ac", "1", str(path)]
        subprocess.run(command, check=True)
    return path


def test_windows_cover_the_file_exactly_and_cut_in_pauses(media_dir: Path, speech_wav: Path) -> None:
    long = make_long_speech(media_dir, speech_wav, repeats=4)  # 108 s: speech, then silence to 27 s, 4 times
    whole = decode.decode_audio(long).samples
    windows = list(decode.iter_windows(long, window_seconds=30))
    assert len(windows) >= 3
    joined = np.concatenate([w.samples for w in windows])
    assert np.array_equal(joined, whole), "windows are the whole-file decode, sample for sample"
    for window, following in itertools.pairwise(windows):
        assert following.start == pytest.approx(window.start + window.duration)
        tail = np.abs(window.samples[-800:]).mean()  # the 50 ms before the cut
        assert tail < np.abs(whole).mean(), "a cut falls in a pause, not inside a word"


def test_windowed_transcript_matches_the_whole_file_transcript(
    media_dir: Path, speech_wav: Path, settings: Settings
) -> None:
    long = make_long_speech(media_dir, speech_wav, repeats=3)
    loaded = load_model(settings)
    options = WhisperOptions.from_settings(settings)
    whole = transcribe_speech(decode.decode_audio(long), model=loaded, options=options)
    windowed = transcribe_windows(
        decode.iter_windows(long, window_seconds=30), total=81.0, model=loaded, options=options
    )
    assert windowed.duration == pytest.approx(whole.duration)
    assert windowed.language == whole.language == "en"
    text = " ".join(s.text for s in windowed.segments)
    assert word_overlap(SPEECH_WORDS, text) >= 0.8
    assert len(windowed.segments) == pytest.approx(len(whole.segments), abs=2)
    starts = [s.start for s in windowed.segments]
    assert starts == sorted(starts) and starts[-1] > 54, "segments of later windows carry their offset"


def test_cancel_is_honoured_within_two_seconds_in_speech_detection(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 4: VAD + features of a long file were one 37 s call without a cancellation point."""
    long = _noise(tmp_path / "noise-40min.wav", 2400)  # no speech: all the time goes to speech detection
    event = CancelEvent()
    stages: list[str] = []

    class Progress(JobProgress):
        def __call__(self, stage: str, done: float, total: float | None = None, /) -> None:
            stages.append(stage)
            self.check()

    progress = Progress(store=None, job_id="j", cancel=event)  # type: ignore[arg-type]
    settings = settings.model_copy(update={"max_duration": 0})
    threading.Timer(2.0, event.cancel).start()
    started = time.monotonic()
    with pytest.raises(JobCancelled):
        service.transcribe_source(Source(kind="file", original=str(long), path=long), settings=settings,
                                  progress=progress)  # fmt: skip
    stopped = time.monotonic() - started
    assert "transcribe" in stages
    assert stopped < 2.0 + 2.0, f"took {stopped:.1f} s to stop after the cancel at 2 s"


MEASURE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from tubesum import service
    from tubesum.config import Settings
    from tubesum.records import Source

    path = Path(sys.argv[1])
    settings = Settings(_env_file=None, model="tiny.en", device="cpu", work_dir=Path(sys.argv[2]), max_duration=0)
    service.transcribe_source(Source(kind="file", original=str(path), path=path), settings=settings)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


@pytest.mark.timeout(300)
def test_peak_memory_does_not_grow_with_duration(tmp_path: Path, settings: Settings) -> None:
    """Item 3, CI-sized: 10 min vs 40 min of generated audio through the real pipeline, peak RSS within 15 %."""
    peaks = {}
    for minutes in (10, 40):
        audio = _noise(tmp_path / f"noise-{minutes}min.wav", minutes * 60)
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(audio), str(tmp_path / "work")],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(SRC)},
        )  # fmt: skip
        peaks[minutes] = int(done.stdout.strip().splitlines()[-1]) / 1024  # MiB
    assert peaks[40] <= peaks[10] * 1.15, f"peak RSS {peaks[10]:.0f} MiB at 10 min, {peaks[40]:.0f} MiB at 40 min"


@pytest.mark.usefixtures("loopback_dns_only")
def test_shutdown_during_speech_detection_requeues_the_job_within_two_seconds(
    tmp_path: Path, settings: Settings, http_server: LoopbackServer
) -> None:
    """Item 4: SIGTERM's stop() with no grace left returned only after the whole file's VAD (12-13 s)."""
    shutil.copy(_noise(tmp_path / "noise-40min.wav", 2400), http_server.root / "noise.wav")
    web = settings.model_copy(
        update={"allow_generic_urls": True, "workers": 1, "max_duration": 0, "max_filesize_mb": 0}
    )
    store = make_store("sqlite", tmp_path)
    job, _ = store.create(new_job(http_server.url("noise.wav"), formats=("txt",)))
    executor = LocalExecutor(store, web, poll_interval=0.1)
    executor.start()
    try:
        wait_for(lambda: (j := store.get(job.id)) is not None and j.stage == "transcribe", what="transcription")
        time.sleep(0.5)  # inside a window's speech detection
        started = time.monotonic()
        executor.stop(grace=0)
        stopped = time.monotonic() - started
    finally:
        executor.stop(grace=0)
    requeued = store.get(job.id)
    assert requeued is not None and requeued.state == JobState.QUEUED
    assert stopped < 2.0, f"stop took {stopped:.1f} s"
