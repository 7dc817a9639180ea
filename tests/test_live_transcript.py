"""The default decoding path, and the transcript as it grows: segments from the real tiny.en model, each once and
in order, through the job events stream and OpenAI ``stream=true`` (official SDK) of a real ``tubesum serve``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faster_whisper import BatchedInferencePipeline, WhisperModel

from servers import Server, job_events, openai_client, running_server
from tubesum.bench.corpus import build_corpus
from tubesum.config import Settings
from tubesum.live import LiveTranscripts
from tubesum.pipeline import decode, models
from tubesum.pipeline.resegment import MAX_SECONDS
from tubesum.pipeline.transcribe import WhisperOptions, decoding_plan, transcribe_speech, transcribe_windows
from tubesum.records import Segment


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s of seeded espeak-ng speech (the bench corpus): several VAD chunks and many sentences."""
    return build_corpus([40.0], seed=2, cache_dir=tmp_path_factory.mktemp("corpus"))[0].path


@pytest.fixture
def tiny(settings: Settings) -> models.LoadedModel:
    return models.load_model(settings)


class Recorder:
    """A progress callable with a ``segment`` method (what the job runner passes), recording both in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, stage: str, done: float, total: float | None = None, /) -> None:
        self.calls.append(("progress", (stage, done, total)))

    def segment(self, segment: Segment, /) -> None:
        self.calls.append(("segment", segment))


def _spy(monkeypatch: pytest.MonkeyPatch, cls: type, calls: list[tuple[str, dict[str, Any]]]) -> None:
    """Record the keyword arguments of ``cls.transcribe`` and run the real method."""
    real = cls.transcribe

    def recording(self: Any, audio: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((cls.__name__, kwargs))
        return real(self, audio, *args, **kwargs)

    monkeypatch.setattr(cls, "transcribe", recording)


def test_default_decoding_is_batched_text_only_without_word_alignment_on_cpu(
    monkeypatch: pytest.MonkeyPatch, tiny: models.LoadedModel, long_speech: Path
) -> None:
    """docs/performance.md: batched text-only decoding was the fastest and the most accurate mode on CPU; its
    chunks are cut into sentences without word alignment, which cost 7-9 % more CPU."""
    calls: list[tuple[str, dict[str, Any]]] = []
    _spy(monkeypatch, BatchedInferencePipeline, calls)
    _spy(monkeypatch, WhisperModel, calls)
    assert tiny.device.device == "cpu"
    result = transcribe_speech(decode.decode_audio(long_speech), model=tiny, options=WhisperOptions())
    (name, kwargs), *_ = calls
    assert name == "BatchedInferencePipeline" and result.batched
    assert kwargs["without_timestamps"] is True and kwargs["word_timestamps"] is False
    assert kwargs["batch_size"] == 8 and kwargs["beam_size"] == 5 and kwargs["vad_filter"] is True
    # the 30 s chunks are cut into sentences (batched_forward); no words unless asked for
    assert len(result.segments) >= 5 and all(not s.words for s in result.segments)
    assert all(s.end - s.start <= MAX_SECONDS * 1.5 + 0.5 for s in result.segments)
    assert [s.start for s in result.segments] == sorted(s.start for s in result.segments)
    calls.clear()
    windows = decode.iter_windows(long_speech, first_window_seconds=10.0)  # the service's first, short window
    transcribe_windows(windows, total=40.0, model=tiny, options=WhisperOptions())
    assert len(calls) >= 2 and all("initial_prompt" not in kwargs for _, kwargs in calls), "no prompt for a batch"
    calls.clear()
    off = transcribe_speech(decode.decode_audio(long_speech), model=tiny, options=WhisperOptions(batched="off"))
    assert [name for name, _ in calls] == ["WhisperModel"] and not off.batched


def test_the_plan_per_device_and_option() -> None:
    for device in ("cpu", "cuda"):
        plan = decoding_plan(WhisperOptions(), device)
        assert (plan.batched, plan.without_timestamps, plan.word_timestamps) == (True, True, False)
    words = decoding_plan(WhisperOptions(word_timestamps=True), "cpu")  # asked for: aligned, kept, and they cut
    assert (words.batched, words.without_timestamps, words.word_timestamps) == (True, True, True)
    no_vad = decoding_plan(WhisperOptions(vad_filter=False), "cuda")  # the batched pipeline needs the VAD
    for prompt in ({"initial_prompt": "Siobhan"}, {"hotwords": "Siobhan"}):  # auto: sequential follows a prompt
        assert not decoding_plan(WhisperOptions(**prompt), "cpu").batched
        assert decoding_plan(WhisperOptions(batched="on", **prompt), "cpu").batched  # "on" is the user's word
    assert not no_vad.batched and not no_vad.without_timestamps and not no_vad.word_timestamps


def test_segments_stream_in_order_each_once_and_make_the_transcript(
    tiny: models.LoadedModel, long_speech: Path
) -> None:
    progress = Recorder()
    result = transcribe_speech(
        decode.decode_audio(long_speech), model=tiny, options=WhisperOptions(word_timestamps=True), progress=progress
    )
    streamed = [value for kind, value in progress.calls if kind == "segment"]
    assert streamed == list(result.segments) and len(streamed) >= 5
    assert all(s.words for s in streamed)  # asked for: the words stay
    kinds = [kind for kind, _ in progress.calls]
    first = kinds.index("segment")
    assert "progress" in kinds[first:], "segments arrive while the stage runs, not after it"


def test_live_feeds_read_by_position_and_start_over_on_retry() -> None:
    live = LiveTranscripts(keep_finished=1)
    one, two = Segment(start=0, end=1, text="one"), Segment(start=1, end=2, text="two")
    live.open("a")
    live.add("a", one)
    assert live.read("a") == ([one], False, 1)
    live.add("a", two)
    assert live.read("a", 1) == ([two], False, 1)
    live.open("a")  # a retried attempt
    assert live.read("a") == ([], False, 2)
    live.close("a")
    live.add("a", one)  # nothing after the end
    assert live.read("a") == ([], True, 2)
    live.open("b")
    live.close("b")
    assert live.read("a") is None and live.read("b") == ([], True, 1)  # only the last finished feed is kept
    assert live.read("unknown") is None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("live"), TUBESUM_UPLOADS_ENABLED="true") as srv:
        yield srv


def test_job_events_carry_each_segment_once_in_order(server: Server, long_speech: Path) -> None:
    headers = server.headers
    with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
        ref = client.post(
            "/v1/uploads",
            params={"filename": "talk.wav"},
            content=long_speech.read_bytes(),
            headers={"Content-Type": "audio/wav"},
        ).json()["source"]
        job = client.post("/v1/jobs", json={"source": ref, "options": {"formats": ["json"]}}).json()
        events = job_events(client, job["id"])
        result = client.get(f"/v1/jobs/{job['id']}/result", params={"format": "json"}).json()
    segments = [json.loads(data) for name, data, _ in events if name == "segment"]
    assert [s["index"] for s in segments] == list(range(len(segments))) and len(segments) >= 5
    assert " ".join(s["text"] for s in segments) == result["text"]
    assert [(s["start"], s["end"]) for s in segments] == [(s["start"], s["end"]) for s in result["segments"]]
    first = next(at for name, _, at in events if name == "segment")
    last = max(at for name, _, at in events if name == "segment")
    print({"first_segment_to_last_s": round(last - first, 3)})
    assert last - first > 0.2, "the first chunk's segments arrive while the rest is still being decoded"


def test_openai_stream_true_sends_deltas_before_the_end(server: Server, long_speech: Path) -> None:
    client = openai_client(server)
    arrivals: list[tuple[Any, float]] = []
    with long_speech.open("rb") as audio:
        stream = client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
        for event in stream:
            arrivals.append((event, time.monotonic()))
    *deltas, (done, done_at) = arrivals
    assert done.type == "transcript.text.done" and len(deltas) >= 5
    assert all(event.type == "transcript.text.delta" for event, _ in deltas)
    assert "".join(event.delta for event, _ in deltas) == done.text
    assert done_at - deltas[0][1] > 0.2, "the first words arrive well before the end"
