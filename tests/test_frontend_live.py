"""The apps' live text (frontends/session.py): segments from the real tiny.en model reach the app while a local
run transcribes, each once and in order, and the final transcript is exactly what was shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tubesum.bench.corpus import build_corpus
from tubesum.config import Settings
from tubesum.frontends.session import LiveText, RunRequest, build_options, run_local, transcript_text
from tubesum.records import Segment


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 s of seeded espeak-ng speech: more than the service's first 30 s window, so segments come in bursts."""
    return build_corpus([45.0], seed=3, cache_dir=tmp_path_factory.mktemp("corpus"))[0].path


def test_run_local_passes_each_segment_once_in_order_while_it_transcribes(
    settings: Settings, long_speech: Path
) -> None:
    calls: list[tuple[str, Any]] = []
    live = LiveText()

    def progress(stage: str, done: float, total: float | None = None, /) -> None:
        calls.append(("progress", (stage, done, total)))

    def on_segment(segment: Segment) -> None:
        live.add(segment)
        calls.append(("segment", segment))

    request = RunRequest(str(long_speech), build_options({"formats": ("txt", "srt")}))
    result = run_local(request, settings=settings, progress=progress, on_segment=on_segment)

    streamed = [value for kind, value in calls if kind == "segment"]
    assert len(streamed) >= 5
    assert streamed == list(result.transcript.segments)  # each once, in order, nothing else
    assert [s.start for s in streamed] == sorted(s.start for s in streamed)
    assert result.transcript.text == " ".join(s.text.strip() for s in streamed if s.text.strip())
    assert live.text == transcript_text(result.transcript)  # what the app showed live is the final text
    assert result.files["txt"].data.decode().strip()  # the rest of the run is unchanged

    # the text arrives while the stage runs: more transcription progress comes after the first segment
    first = next(i for i, (kind, _) in enumerate(calls) if kind == "segment")
    later = [value for kind, value in calls[first:] if kind == "progress"]
    transcribing = [(done, total) for stage, done, total in later if stage == "transcribe"]
    assert any(total and done < total for done, total in transcribing), "segments came only after transcription"


def test_run_local_without_on_segment_takes_a_plain_progress_function(settings: Settings) -> None:
    from tubesum.service import sample_path

    stages: list[str] = []
    result = run_local(RunRequest(str(sample_path())), settings=settings, progress=lambda s, *_: stages.append(s))
    assert "transcribe" in stages and "sample" in result.transcript.text.lower()


def test_live_text_formats_like_the_final_view_and_throttles_redraws() -> None:
    live = LiveText(min_interval=0.5)
    assert live.take(now=0.0) is None  # nothing yet
    assert live.add(Segment(1.0, 2.0, " Hello there. ")) == "[00:01] Hello there."
    assert live.add(Segment(2.0, 3.0, "   ")) is None  # no text, no line (as in the final view)
    assert live.take(now=10.0) == "[00:01] Hello there."
    assert live.take(now=10.1) is None  # unchanged
    live.add(Segment(65.0, 66.0, "Later.", speaker="SPEAKER_00"))
    assert live.take(now=10.2) is None  # changed, but too soon: held back
    assert live.take(now=10.6) == "[00:01] Hello there.\n[01:05] SPEAKER_00: Later."
    assert len(live.segments) == 3 and len(live.lines) == 2
