"""The model registry: load once per key under concurrency, last use, idle unload, snapshot, metrics, estimates.

Unit tests use small Python objects as models (a weak reference tells whether an unload really let go of one);
the Whisper tests load the real tiny.en model through ``pipeline.models``. The summary LLM and pyannote kinds are
covered where their real test models are built (test_summarize_transformers.py, test_diarize_pyannote.py).
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tubesum.config import Settings
from tubesum.errors import ModelLoadError
from tubesum.metrics import register_collector
from tubesum.model_estimates import Estimate, diarize_estimate, summary_estimate, whisper_estimate
from tubesum.model_registry import REGISTRY, ModelKey, ModelRegistry, ModelsCollector
from tubesum.pipeline.models import clear_loaded_models, load_model, loaded_models

EST = Estimate(100, "table")


class Model:
    """A stand-in model: any object the registry can hold and drop."""

    def __init__(self, name: str) -> None:
        self.name = name


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def key(name: str = "m", kind: str = "whisper", device: str = "cpu") -> ModelKey:
    return ModelKey(kind, name, device)  # type: ignore[arg-type]


def test_concurrent_callers_of_one_key_wait_for_a_single_load() -> None:
    registry = ModelRegistry()
    calls: list[int] = []
    start = threading.Barrier(8)

    def load() -> Model:
        calls.append(1)
        time.sleep(0.2)  # long enough that every other thread arrives while it loads
        return Model("m")

    results: list[Model] = []

    def worker() -> None:
        start.wait()
        results.append(registry.get(key(), load, estimate=EST))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert [(i.loads, i.loaded) for i in registry.snapshot()] == [(1, True)]


def test_different_keys_load_in_parallel() -> None:
    registry = ModelRegistry()
    both = threading.Barrier(2, timeout=5)  # breaks unless the two loads overlap

    def load(name: str) -> Model:
        both.wait()
        return Model(name)

    threads = [
        threading.Thread(target=registry.get, args=(key(n), lambda n=n: load(n)), kwargs={"estimate": EST})
        for n in ("a", "b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(m.name for m in registry.loaded()) == ["a", "b"]


def test_a_failed_load_is_not_remembered() -> None:
    registry = ModelRegistry()

    def broken() -> Model:
        raise ModelLoadError("disk on fire", model="m")

    with pytest.raises(ModelLoadError):
        registry.get(key(), broken, estimate=EST)
    assert registry.snapshot() == [] and registry.loaded() == []
    assert registry.get(key(), lambda: Model("m"), estimate=EST).name == "m"


def test_unload_idle_drops_models_unused_for_the_ttl_and_frees_them() -> None:
    clock = Clock()
    registry = ModelRegistry(clock=clock)
    old = registry.get(key("old"), lambda: Model("old"), estimate=EST)
    gone = weakref.ref(old)
    del old
    clock.t += 50
    registry.get(key("new"), lambda: Model("new"), estimate=EST)
    clock.t += 20  # old: unused for 70 s, new: for 20 s
    assert registry.unload_idle(0) == []  # 0 means keep them loaded
    assert registry.unload_idle(60) == [key("old")]
    assert gone() is None  # nothing else held it: the memory is back
    assert [m.name for m in registry.loaded()] == ["new"]
    snapshot = {i.name: i for i in registry.snapshot()}
    assert snapshot["old"].loaded is False and snapshot["old"].idle_seconds is None  # listed, loaded or not
    assert snapshot["new"].loaded is True and snapshot["new"].idle_seconds == 20


def test_every_get_and_touch_counts_as_use() -> None:
    clock = Clock()
    registry = ModelRegistry(clock=clock)
    registry.get(key(), lambda: Model("m"), estimate=EST)
    clock.t += 50
    registry.get(key(), lambda: Model("again"), estimate=EST)  # cached: no load, but a use
    clock.t += 50
    registry.touch(key())
    clock.t += 50
    assert registry.unload_idle(60) == []
    clock.t += 10
    assert registry.unload_idle(60) == [key()]


def test_touch_since_restarts_the_idle_clock_of_the_models_a_job_used() -> None:
    clock = Clock()
    registry = ModelRegistry(clock=clock)
    registry.get(key("unused"), lambda: Model("unused"), estimate=EST)
    clock.t += 10
    job_started = registry.now()
    registry.get(key("used"), lambda: Model("used"), estimate=EST)
    clock.t += 100  # a long job
    registry.touch_since(job_started)
    assert registry.unload_idle(60) == [key("unused")]
    assert [m.name for m in registry.loaded()] == ["used"]


def test_a_model_used_again_after_the_idle_check_looked_is_kept() -> None:
    clock = Clock()
    registry = ModelRegistry(clock=clock)
    entry_key = key()
    registry.get(entry_key, lambda: Model("m"), estimate=EST)
    clock.t += 100
    # another thread holds the load lock (a load of this key in flight): unload_idle skips instead of waiting
    lock = registry._entries[entry_key].lock
    with lock:
        assert registry.unload_idle(60) == []
    assert registry.unload_idle(60) == [entry_key]


def test_after_an_unload_the_next_get_loads_again() -> None:
    registry = ModelRegistry()
    first = registry.get(key(), lambda: Model("1"), estimate=EST)
    assert registry.unload(key()) is True and registry.unload(key()) is False
    second = registry.get(key(), lambda: Model("2"), estimate=EST)
    assert (first.name, second.name) == ("1", "2")
    assert registry.snapshot()[0].loads == 2


def test_unload_all_by_kind() -> None:
    registry = ModelRegistry()
    for kind in ("whisper", "summary", "diarize"):
        registry.get(key(kind=kind), lambda k=kind: Model(k), estimate=EST)
    assert registry.unload_all("summary") == [key(kind="summary")]
    assert sorted(m.name for m in registry.loaded()) == ["diarize", "whisper"]
    assert len(registry.unload_all()) == 2 and registry.loaded() == []


def test_the_metrics_count_loaded_models_and_their_estimated_memory() -> None:
    registry = ModelRegistry()
    registry.get(key("a"), lambda: Model("a"), estimate=Estimate(600, "table"))
    registry.get(key("b", kind="summary", device="cuda"), lambda: Model("b"), estimate=Estimate(4000, "name"))
    registry.get(key("c"), lambda: Model("c"), estimate=Estimate(360, "table"))
    registry.unload(key("c"))
    metrics = CollectorRegistry()
    register_collector(ModelsCollector(registry.snapshot), metrics)
    text = generate_latest(metrics).decode()
    assert 'tubesum_models_loaded{device="cpu",kind="whisper"} 1.0' in text
    assert 'tubesum_models_loaded{device="cuda",kind="summary"} 1.0' in text
    memory = "tubesum_models_memory_estimate_bytes"
    assert metrics.get_sample_value(memory, {"device": "cpu", "kind": "whisper"}) == 600 * 2**20
    assert metrics.get_sample_value(memory, {"device": "cuda", "kind": "summary"}) == 4000 * 2**20


# -- estimates ---------------------------------------------------------------------------------------------------
def test_whisper_estimates_come_from_the_table() -> None:
    assert whisper_estimate("tiny.en", "int8") == Estimate(360, "table")
    assert whisper_estimate("large-v3-turbo") == Estimate(3300, "table")
    assert whisper_estimate("/models/my-finetune") == Estimate(5200, "default")


def test_summary_estimates_from_the_name_then_the_disk_then_a_default(tmp_path: Path) -> None:
    by_name = summary_estimate("Qwen/Qwen2.5-1.5B-Instruct", device="cuda")
    assert by_name.basis == "name" and by_name.mb == int(1.5e9 * 2 * 1.2 / 2**20) + 512
    assert summary_estimate("Qwen/Qwen2.5-1.5B-Instruct", device="cpu").mb == int(1.5e9 * 4 * 1.2 / 2**20) + 512
    assert summary_estimate("HuggingFaceTB/SmolLM2-135M-Instruct").mb == int(135e6 * 2 * 1.2 / 2**20) + 512
    gguf = tmp_path / "gguf-model"
    gguf.mkdir()
    (gguf / "weights.gguf").write_bytes(b"\0" * 2**20)  # ~1 M parameters at one byte each
    assert summary_estimate(str(gguf), device="cpu") == Estimate(int(2**20 * 4 * 1.2 / 2**20) + 512, "disk")
    st = tmp_path / "st-model"
    st.mkdir()
    (st / "model.safetensors").write_bytes(b"\0" * 2**21)  # ~1 M parameters at two bytes each
    (st / "tokenizer.json").write_bytes(b"\0" * 2**22)  # not weights
    assert summary_estimate(str(st), device="cuda") == Estimate(int(2**20 * 2 * 1.2 / 2**20) + 512, "disk")
    assert summary_estimate("someorg/mystery-model").basis == "default"


def test_diarization_estimate_is_a_table_figure() -> None:
    assert diarize_estimate("pyannote/speaker-diarization-community-1") == Estimate(1500, "table")


# -- Whisper through the real tiny.en model -------------------------------------------------------------------
def test_whisper_registers_once_with_its_estimate_and_unloads(settings: Settings) -> None:
    clear_loaded_models()
    first = load_model(settings)
    assert load_model(settings) is first
    (info,) = [i for i in REGISTRY.snapshot() if i.kind == "whisper" and i.loaded]
    assert (info.name, info.device) == ("tiny.en", "cpu")
    assert info.estimate_mb == whisper_estimate("tiny.en", first.device.compute_type).mb
    assert info.load_seconds is not None and info.load_seconds > 0
    model = weakref.ref(first.model)
    del first
    assert REGISTRY.unload_idle(3600) == []  # just used
    time.sleep(1.05)
    assert [k.kind for k in REGISTRY.unload_idle(1)] == ["whisper"]
    gc.collect()
    assert model() is None and loaded_models() == []
    assert load_model(settings).model is not None  # loads again on the next use


def test_concurrent_whisper_loads_share_one_model(settings: Settings) -> None:
    clear_loaded_models()
    loads_before = sum(i.loads for i in REGISTRY.snapshot() if i.kind == "whisper")
    results: list[object] = []
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        results.append(load_model(settings).model)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert len(loaded_models()) == 1
    assert sum(i.loads for i in REGISTRY.snapshot() if i.kind == "whisper") == loads_before + 1
