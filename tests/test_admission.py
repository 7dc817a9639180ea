"""GPU admission control: which worker takes a job, from the model's needs and the GPU's free memory."""

from __future__ import annotations

import pytest

from tubesum.config import Settings
from tubesum.jobs.admission import HEADROOM_MB, admit, free_gpu_mb, gpu_models, job_needs, required_mb
from tubesum.model_estimates import Estimate, diarize_estimate, summary_estimate
from tubesum.model_registry import REGISTRY, ModelKey


@pytest.mark.parametrize(
    ("model", "compute", "expected"),
    [
        ("tiny.en", "float16", 600),
        ("large-v3", "float16", 5200),
        ("large-v3-turbo", "float16", 3300),  # turbo, not large
        ("Systran/faster-whisper-small", "float16", 1500),  # repo ids by their last part
        ("distil-large-v3", "float16", 3300),
        ("medium", "int8_float16", 2100),  # int8: ~60 %
        ("/models/my-finetune", "float16", 5200),  # unknown: assume large
    ],
)
def test_required_memory_per_model(model: str, compute: str, expected: int) -> None:
    assert required_mb(model, compute) == expected


def _gpu(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"device": "cuda", "compute_type": "float16", **update})


def test_a_model_that_fits_runs_on_the_gpu(settings: Settings) -> None:
    decision = admit("small", settings=_gpu(settings), free_mb=1500 + HEADROOM_MB)
    assert (decision.action, decision.device) == ("run", "cuda")


def test_a_model_that_does_not_fit_waits_for_another_worker(settings: Settings) -> None:
    decision = admit("large-v3", settings=_gpu(settings), free_mb=4000)
    assert (decision.action, decision.device) == ("wait", "cuda")
    assert "large-v3 needs ~5712 MB" in decision.reason and "4000 MB free" in decision.reason


def test_or_falls_back_to_the_cpu_when_allowed(settings: Settings) -> None:
    decision = admit("large-v3", settings=_gpu(settings, gpu_full="cpu"), free_mb=4000)
    assert (decision.action, decision.device) == ("run", "cpu")


def test_a_model_already_loaded_needs_no_new_memory(settings: Settings) -> None:
    decision = admit("large-v3", settings=_gpu(settings), free_mb=100, loaded=frozenset({"large-v3"}))
    assert decision.action == "run"


def test_nothing_is_checked_on_cpu_or_without_nvml(settings: Settings) -> None:
    assert admit("large-v3", settings=settings.model_copy(update={"device": "cpu"}), free_mb=0).action == "run"
    assert admit("large-v3", settings=_gpu(settings), free_mb=None).action == "run"


def test_free_memory_is_unknown_without_a_gpu() -> None:
    # this machine has no NVIDIA driver (and no nvidia-ml-py): nothing to measure, so admission allows all
    assert free_gpu_mb() is None


# -- all three model kinds -------------------------------------------------------------------------------------
def _llm(settings: Settings, **update: object) -> Settings:
    values: dict[str, object] = {"summary_backend": "transformers", "summary_model": "Qwen/Qwen2.5-1.5B-Instruct"}
    return _gpu(settings, **(values | update))


def test_a_summarized_diarized_job_needs_all_three_models(settings: Settings) -> None:
    run = _llm(settings)
    needs = job_needs("small", settings=run, diarize=True, summarize=True)
    assert [(n.kind, n.mb) for n in needs] == [
        ("whisper", 1500),
        ("summary", summary_estimate("Qwen/Qwen2.5-1.5B-Instruct", device="cuda").mb),
        ("diarize", diarize_estimate(run.diarization_model).mb),
    ]
    total = sum(n.mb for n in needs) + HEADROOM_MB
    assert admit("small", settings=run, free_mb=total, diarize=True, summarize=True).action == "run"
    short = admit("small", settings=run, free_mb=total - 1, diarize=True, summarize=True)
    assert short.action == "wait"
    assert f"need ~{total} MB" in short.reason
    assert "summary model Qwen" in short.reason and "diarization model" in short.reason
    assert admit("small", settings=run, free_mb=total - 1).action == "run"  # transcription only: Whisper alone


def test_summaries_count_only_with_a_local_llm(settings: Settings) -> None:
    for backend in ("extractive", "openai"):
        needs = job_needs("small", settings=_llm(settings, summary_backend=backend), summarize=True)
        assert [n.kind for n in needs] == ["whisper"]


def test_models_held_on_the_gpu_come_from_the_registry_and_cost_nothing(settings: Settings) -> None:
    run = _llm(settings)
    held: list[ModelKey] = [
        ModelKey("summary", run.summary_model, "cuda"),
        ModelKey("diarize", run.diarization_model, "cuda"),
        ModelKey("whisper", "small", "cpu"),  # on the CPU: frees no GPU memory
    ]
    for key in held:
        REGISTRY.get(key, object, estimate=Estimate(1, "table"))
    try:
        loaded = gpu_models()
        assert loaded == {("summary", run.summary_model), ("diarize", run.diarization_model)}
        decision = admit("small", settings=run, free_mb=1500 + HEADROOM_MB, loaded=loaded, diarize=True, summarize=True)
        assert decision.action == "run" and decision.reason.startswith("small needs ~2012 MB")
        REGISTRY.get(ModelKey("whisper", "small", "cuda"), object, estimate=Estimate(1, "table"))
        decision = admit("small", settings=run, free_mb=0, loaded=gpu_models(), diarize=True, summarize=True)
        assert decision.action == "run" and "already loaded" in decision.reason
    finally:
        for key in [*held, ModelKey("whisper", "small", "cuda")]:
            REGISTRY.unload(key)
