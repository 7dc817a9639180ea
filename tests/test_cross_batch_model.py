"""Cross-job batching on the real tiny.en model (issue 18, target 4): jobs decoding at the same time share model
calls, and each gets the same transcript it gets alone."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import LoopbackServer
from jobs_fakes import make_store, new_job, wait_for
from tubesum.bench.corpus import build_corpus
from tubesum.config import Settings
from tubesum.jobs.executor import LocalExecutor, worker_count
from tubesum.jobs.types import JobState
from tubesum.pipeline import decode, models
from tubesum.pipeline.cross_batch import CrossBatcher, batcher_for
from tubesum.pipeline.transcribe import WhisperOptions, transcribe_windows

JOBS = 3


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three different 40 s espeak clips (bench corpus, seeds 3-5): one or two speech chunks each."""
    cache = tmp_path_factory.mktemp("corpus")
    return [build_corpus([40.0], seed=seed, cache_dir=cache)[0].path for seed in range(3, 3 + JOBS)]


def _transcribe(path: Path, loaded: models.LoadedModel, options: WhisperOptions) -> list[tuple[float, float, str]]:
    result = transcribe_windows(
        decode.iter_windows(path, first_window_seconds=decode.FIRST_WINDOW_SECONDS),
        total=None,
        model=loaded,
        options=options,
    )
    return [(s.start, s.end, s.text) for s in result.segments]


class Gate:
    """Holds the batcher's first model call until ``count`` requests of other jobs are waiting behind it."""

    def __init__(self, batcher: CrossBatcher, count: int) -> None:
        self.batcher, self.count, self.forward = batcher, count, batcher._forward
        self.rows: list[int] = []
        self.held = False

    def __call__(self, features: Any, tokenizer: Any, chunks: list[Any], options: Any) -> list[Any]:
        if not self.held:
            self.held = True
            deadline = time.monotonic() + 60
            while len(self.batcher._pending) < self.count and time.monotonic() < deadline:
                time.sleep(0.01)
        self.rows.append(len(features))
        return self.forward(features, tokenizer, chunks, options)  # type: ignore[no-any-return]


def test_concurrent_jobs_share_model_calls_and_get_the_text_they_get_alone(
    settings: Settings, clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = models.load_model(settings)
    options = WhisperOptions.from_settings(settings)
    assert options.batched == "auto" and not options.word_timestamps  # the default path is the batched one
    alone = [_transcribe(clip, loaded, options) for clip in clips]
    assert all(alone), alone

    batcher = batcher_for(loaded.model, max_rows=options.batch_size, forward=lambda: pytest.fail("not shared"))
    gate = Gate(batcher, count=JOBS - 1)
    monkeypatch.setattr(batcher, "_forward", gate)
    before = batcher.stats.merged_calls
    with ThreadPoolExecutor(JOBS) as pool:
        together = list(pool.map(lambda clip: _transcribe(clip, loaded, options), clips))

    assert batcher.stats.merged_calls > before, "no model call held chunks of more than one job"
    assert max(gate.rows) >= JOBS - 1, gate.rows
    for mine, theirs in zip(together, alone, strict=True):
        assert [text for _, _, text in mine] == [text for _, _, text in theirs]
        for (start, end, _), (start_alone, end_alone, _) in zip(mine, theirs, strict=True):
            assert abs(start - start_alone) < 0.05 and abs(end - end_alone) < 0.05


def test_word_timestamps_and_prompts_are_not_merged(settings: Settings, clips: list[Path]) -> None:
    """Word alignment carries state between calls and a prompt changes the options: neither goes through the
    shared batcher (the merged calls counter does not move)."""
    loaded = models.load_model(settings)
    options = WhisperOptions.from_settings(settings, word_timestamps=True)
    batcher = batcher_for(loaded.model, max_rows=options.batch_size, forward=lambda: pytest.fail("not shared"))
    calls = batcher.stats.calls
    segments = _transcribe(clips[0], loaded, options)
    assert segments and batcher.stats.calls == calls


def test_an_error_in_a_shared_call_fails_every_job_in_it(settings: Settings, clips: list[Path]) -> None:
    loaded = models.load_model(settings)
    options = WhisperOptions.from_settings(settings)
    batcher = batcher_for(loaded.model, max_rows=options.batch_size, forward=lambda: pytest.fail("not shared"))
    real = batcher._forward
    started = threading.Event()

    def broken(*args: Any) -> list[Any]:
        started.set()
        raise RuntimeError("CUDA failed with error out of memory")

    batcher._forward = broken
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(_transcribe, clip, loaded, options) for clip in clips[:2]]
            errors = [f.exception(timeout=120) for f in futures]
    finally:
        batcher._forward = real
    assert started.is_set()
    assert all(e is not None and "out of memory" in str(e) for e in errors), errors
    assert _transcribe(clips[0], loaded, options)  # the batcher works again afterwards


@pytest.mark.usefixtures("loopback_dns_only")
def test_the_embedded_executor_runs_four_cpu_jobs_at_once_and_they_share_model_calls(
    settings: Settings, clips: list[Path], http_server: LoopbackServer
) -> None:
    """With the default ``workers=0`` on CPU, four queued jobs run side by side (their run times overlap), share
    the model's batched calls (the shared batcher counts merged calls) and each gets its own transcript."""
    web = settings.model_copy(update={"allow_generic_urls": True, "workers": 0, "device": "cpu"})
    assert worker_count(web) >= 4
    four = [*clips, clips[0]][:4]
    for n, clip in enumerate(four):
        shutil.copy(clip, http_server.root / f"clip{n}.wav")
    loaded = models.load_model(web)
    batcher = batcher_for(loaded.model, max_rows=web.batch_size, forward=lambda: pytest.fail("not shared"))
    merged = batcher.stats.merged_calls
    store = make_store("sqlite", settings.work_dir)
    jobs = [store.create(new_job(http_server.url(f"clip{n}.wav"), formats=("txt",)))[0] for n in range(4)]
    executor = LocalExecutor(store, web, poll_interval=0.05)
    executor.start()
    try:
        wait_for(
            lambda: all((j := store.get(job.id)) is not None and j.state.finished for job in jobs),
            timeout=240,
            what="four jobs",
        )
    finally:
        executor.stop()
    done = [store.get(job.id) for job in jobs]
    assert all(j is not None and j.state == JobState.SUCCEEDED for j in done), [j and j.error for j in done]
    runs = [(j.started_at, j.finished_at) for j in done if j is not None]
    assert max(start for start, _ in runs) < min(end for _, end in runs), "the four jobs never ran at the same time"
    assert batcher.stats.merged_calls > merged
