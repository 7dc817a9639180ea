"""Local chat LLM through Hugging Face transformers: the ``transformers`` summary backend.

Needs the ``summarize`` extra (torch, transformers, gguf, sentencepiece, accelerate). Only the summarizer factory
imports this module, and torch/transformers are imported inside its functions, so ``import tubesum`` and
``tubesum --help`` never load torch.

``summary_model`` is a Hugging Face hub id or a local directory. A GGUF model is loaded (and de-quantized) when
``summary_gguf_file`` is set or the directory holds exactly one ``*.gguf``::

    backend = TransformersChatBackend.from_settings(Settings(summary_model="/models/smollm2"))
    backend.complete([ChatMessage("user", "Summarize: ...")], max_tokens=200)

Each model is loaded once per process through the model registry (keyed by model, GGUF file, device and dtype)
and shared by every backend built for it; a backend holds no reference of its own, so an idle unload frees the
memory and the next call loads the model again. With ``HF_HUB_OFFLINE=1`` nothing is downloaded and a model
missing from the cache is a ModelNotFoundError that says how to fetch it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tubesum.errors import (
    ConfigError,
    DeviceUnavailableError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    SummaryBackendError,
)
from tubesum.model_estimates import Estimate, summary_estimate
from tubesum.model_registry import REGISTRY, ModelKey
from tubesum.summarize.base import ChatBackend, ChatMessage

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = [
    "DEFAULT_MAX_CONTEXT_TOKENS",
    "LoadedChatModel",
    "TransformersChatBackend",
    "clear_loaded_chat_models",
    "is_available",
    "load_chat_model",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONTEXT_TOKENS = 8192  # attention memory grows with the context: cap what we ask of the model
REPETITION_PENALTY = 1.1
_FALLBACK_CONTEXT_TOKENS = 2048  # configs that name no context size
_OFFLINE_VALUES = {"1", "true", "yes", "on"}


def is_available() -> bool:
    """Return whether torch and transformers are installed (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers"))


def _import_ml() -> tuple[Any, Any]:
    """Import torch and transformers, or raise MissingExtraError naming the extra to install."""
    try:
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
    except ImportError as exc:
        raise MissingExtraError("Local LLM summaries", "summarize", package="transformers") from exc
    return torch, transformers


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


@dataclass(frozen=True, slots=True)
class _Source:
    """Where the weights come from: ``ref`` is a hub id or a resolved directory."""

    ref: str
    gguf_file: str | None
    local: bool


def _resolve_source(model: str, gguf_file: str | None) -> _Source:
    """Tell a local directory from a hub id and find the GGUF file to load, if any."""
    model = model.strip()
    if not model:
        raise ConfigError("summary_model is empty.", hint="Set TUBESUM_SUMMARY_MODEL to a hub id or a directory.")
    path = Path(model).expanduser()
    if path.is_dir():
        if gguf_file is None:
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            if len(ggufs) == 1:
                gguf_file = ggufs[0]
            elif len(ggufs) > 1 and not (path / "config.json").is_file():
                raise ConfigError(
                    f"{path} holds {len(ggufs)} GGUF files; which one should be loaded?",
                    hint=f"Set TUBESUM_SUMMARY_GGUF_FILE to one of: {', '.join(ggufs)}.",
                )
        elif not (path / gguf_file).is_file():
            raise ModelNotFoundError(
                f"GGUF file {gguf_file!r} is not in {path}.",
                hint="Check TUBESUM_SUMMARY_GGUF_FILE (a file name inside the model directory).",
                model=model,
            )
        return _Source(ref=str(path.resolve()), gguf_file=gguf_file, local=True)
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ModelNotFoundError(
            f"Summary model directory {path} does not exist.",
            hint="Pass an existing directory or a Hugging Face hub id such as Qwen/Qwen2.5-1.5B-Instruct.",
            model=model,
        )
    return _Source(ref=model, gguf_file=gguf_file, local=False)


def _choose_device(torch: Any, requested: str) -> tuple[str, str]:
    """Return the torch device for ``requested`` (auto, cpu, cuda) and why it was chosen."""
    if requested == "cpu":
        return "cpu", "cpu requested"
    available = bool(torch.cuda.is_available())
    if requested == "cuda":
        if not available:
            raise DeviceUnavailableError(
                "Device 'cuda' was requested but torch sees no CUDA device.",
                hint="Check the NVIDIA driver and that a CUDA build of torch is installed, or use TUBESUM_DEVICE=auto.",
            )
        return "cuda", "cuda requested"
    if requested != "auto":
        raise ConfigError(f"Unknown device {requested!r}.", hint="Use auto, cpu or cuda.")
    if available:
        return "cuda", f"auto: torch sees {torch.cuda.device_count()} CUDA device(s)"
    build = "a CPU-only build of torch" if torch.version.cuda is None else "torch.cuda.is_available() is False"
    return "cpu", f"auto: {build}; using CPU"


def _choose_dtype(torch: Any, device: str) -> Any:
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


@dataclass(slots=True)
class LoadedChatModel:
    """A causal LM and its tokenizer in memory, plus how they were loaded (for logs and ``doctor``)."""

    model: Any
    tokenizer: Any
    device: str
    dtype: str
    reason: str
    load_seconds: float
    native_context_tokens: int  # what the model config allows, uncapped
    eos_token_ids: tuple[int, ...]
    pad_token_id: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time per model


def clear_loaded_chat_models() -> None:
    """Unload every chat model (tests). Idle unload goes through ``tubesum.model_registry.REGISTRY.unload_idle``."""
    REGISTRY.unload_all("summary")


def _redact(text: str, token: str | None) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line.replace(token, "***") if token else line


def _not_found(source: _Source, exc: BaseException, token: str | None, offline: bool) -> ModelNotFoundError:
    if source.local:
        return ModelNotFoundError(
            f"Could not read summary model from {source.ref}: {_redact(str(exc), token)}",
            hint="The directory needs config.json + weights + tokenizer files, or one *.gguf file.",
            model=source.ref,
        )
    chain = (exc, exc.__cause__, exc.__context__)
    if any(e is not None and "Gated" in type(e).__name__ for e in chain) or "gated repo" in str(exc).lower():
        return ModelNotFoundError(
            f"Summary model {source.ref!r} is gated on the Hugging Face hub.",
            hint="Accept its licence on huggingface.co and set HF_TOKEN to a token with access.",
            model=source.ref,
        )
    download = f"hf download {source.ref}" + (f" {source.gguf_file}" if source.gguf_file else "")
    if offline:
        return ModelNotFoundError(
            f"Summary model {source.ref!r} is not in the Hugging Face cache and HF_HUB_OFFLINE=1.",
            hint=f"Download it once with: {download} (or unset HF_HUB_OFFLINE to let tubesum fetch it).",
            model=source.ref,
        )
    return ModelNotFoundError(
        f"Could not fetch summary model {source.ref!r}: {type(exc).__name__}: {_redact(str(exc), token)}",
        hint=f"Check the model id and the network, or download it with: {download}",
        model=source.ref,
    )


def _native_context(config: Any, tokenizer: Any) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        return model_max
    return _FALLBACK_CONTEXT_TOKENS


def _eos_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    ids: list[int] = []
    configured = getattr(model.generation_config, "eos_token_id", None)
    for value in (configured if isinstance(configured, list) else [configured]) + [tokenizer.eos_token_id]:
        if isinstance(value, int) and value not in ids:
            ids.append(value)
    return tuple(ids)


def _load(source: _Source, device: str, reason: str, *, token: str | None) -> LoadedChatModel:
    torch, transformers = _import_ml()
    dtype = _choose_dtype(torch, device)
    offline = _hub_offline()
    kwargs: dict[str, Any] = {"local_files_only": offline or source.local}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    if token and not source.local:
        kwargs["token"] = token
    started = time.perf_counter()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.ref, **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(source.ref, dtype=dtype, device_map=device, **kwargs)
    except (OSError, ValueError, KeyError) as exc:  # hub errors are OSErrors; bad configs ValueError/KeyError
        raise _not_found(source, exc, token, offline) from None
    except ImportError as exc:  # e.g. a GGUF model without the gguf package
        raise MissingExtraError("Local LLM summaries", "summarize", package=exc.name or "gguf") from exc
    except RuntimeError as exc:  # weights straight onto the GPU (device_map): CUDA out of memory, driver errors
        raise ModelLoadError(
            f"Could not load summary model {source.ref!r} on {device}: {_redact(str(exc), token)}",
            hint="Use a smaller TUBESUM_SUMMARY_MODEL or TUBESUM_DEVICE=cpu.",
            model=source.ref,
        ) from None
    except Exception as exc:  # loaders of third-party formats raise anything (struct.error on a truncated GGUF)
        raise ModelLoadError(
            f"Could not load summary model {source.ref!r}: {type(exc).__name__}: {_redact(str(exc), token)}",
            hint="The model files may be incomplete or corrupt: download them again.",
            model=source.ref,
        ) from None
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(
            f"Summary model {source.ref!r} has no chat template.",
            hint="Use an instruct/chat model (for example Qwen/Qwen2.5-1.5B-Instruct).",
            model=source.ref,
        )
    model.eval()
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else None)
    seconds = time.perf_counter() - started
    loaded = LoadedChatModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        reason=reason,
        load_seconds=seconds,
        native_context_tokens=_native_context(model.config, tokenizer),
        eos_token_ids=eos,
        pad_token_id=pad,
    )
    logger.info(
        "summary model loaded",
        extra={
            "model": source.ref,
            "gguf_file": source.gguf_file,
            "device": device,
            "dtype": loaded.dtype,
            "seconds": round(seconds, 3),
            "reason": reason,
            "context_tokens": loaded.native_context_tokens,
        },
    )
    return loaded


@dataclass(frozen=True, slots=True)
class _Registration:
    """How to get one chat model from the model registry again (after an idle unload, say)."""

    key: ModelKey
    load: Callable[[], LoadedChatModel]
    estimate: Estimate

    def get(self) -> LoadedChatModel:
        return REGISTRY.get(self.key, self.load, estimate=self.estimate)


def _registration(model: str, *, gguf_file: str | None, device: str, token: str | None) -> _Registration:
    torch, _ = _import_ml()
    source = _resolve_source(model, gguf_file)
    chosen, reason = _choose_device(torch, device)
    dtype = str(_choose_dtype(torch, chosen)).removeprefix("torch.")
    key = ModelKey("summary", source.ref, chosen, (source.gguf_file or "", dtype))
    estimate = summary_estimate(source.ref, gguf_file=source.gguf_file, device=chosen)
    return _Registration(key, lambda: _load(source, chosen, reason, token=token), estimate)


def load_chat_model(
    model: str,
    *,
    gguf_file: str | None = None,
    device: str = "auto",
    token: str | None = None,
) -> LoadedChatModel:
    """Return the process-wide chat model for these options, loading it on first use only (the model registry)."""
    return _registration(model, gguf_file=gguf_file, device=device, token=token).get()


class TransformersChatBackend:
    """ChatBackend over a local causal LM: chat template, greedy decoding, only the new text returned."""

    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        device: str = "auto",
        token: str | None = None,
        max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    ) -> None:
        """Load (or reuse) ``model``: a hub id or a directory; ``token`` is only sent to the hub, never logged."""
        if max_context_tokens < 16:
            raise ConfigError(f"max_context_tokens must be at least 16, not {max_context_tokens}.")
        self.model = model
        self._registration = _registration(model, gguf_file=gguf_file, device=device, token=token)
        self.context_tokens = min(self._registration.get().native_context_tokens, max_context_tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersChatBackend:
        """Build the backend from ``summary_model``, ``summary_gguf_file``, ``device`` and ``hf_token``."""
        token = settings.hf_token.get_secret_value() if settings.hf_token else None
        return cls(settings.summary_model, gguf_file=settings.summary_gguf_file, device=settings.device, token=token)

    @property
    def loaded(self) -> LoadedChatModel:
        """Return the shared model record (device, dtype, load time), loading it again after an idle unload."""
        return self._registration.get()

    @property
    def _loaded(self) -> LoadedChatModel:
        return self._registration.get()

    def count_tokens(self, text: str) -> int:
        """Return how many tokens ``text`` takes with this model's own tokenizer."""
        return len(self._loaded.tokenizer.encode(text, add_special_tokens=False))

    def _prompt_ids(self, messages: Sequence[ChatMessage]) -> Any:
        """Tokenize ``messages`` with the chat template; fold the system turn into the first user turn when the
        template refuses system turns (Gemma-style templates raise on them)."""
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        attempts = [conversation]
        if len(conversation) >= 2 and conversation[0]["role"] == "system":
            system, first, *rest = conversation
            attempts.append([{"role": first["role"], "content": f"{system['content']}\n\n{first['content']}"}, *rest])
        error: Exception | None = None
        for attempt in attempts:
            try:
                return self._loaded.tokenizer.apply_chat_template(
                    attempt, add_generation_prompt=True, return_tensors="pt", return_dict=True
                )
            except Exception as exc:  # jinja2.TemplateError and friends: try the next form
                error = exc
        raise SummaryBackendError(f"The chat template of {self.model} failed: {_redact(str(error), None)}")

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> str:
        """Return the model's reply to ``messages`` (greedy decoding, at most ``max_tokens`` new tokens)."""
        torch, _ = _import_ml()
        loaded = self._loaded
        encoded = self._prompt_ids(messages)
        prompt_tokens = int(encoded["input_ids"].shape[-1])
        room = self.context_tokens - prompt_tokens
        if room <= 0:
            raise SummaryBackendError(
                f"Prompt of {prompt_tokens} tokens does not fit the {self.context_tokens}-token context of "
                f"{self.model}."
            )
        inputs = {k: v.to(loaded.device) for k, v in encoded.items()}
        started = time.perf_counter()
        try:
            with loaded.lock, torch.inference_mode():
                output = loaded.model.generate(
                    **inputs,
                    max_new_tokens=max(1, min(max_tokens, room)),
                    do_sample=False,
                    repetition_penalty=REPETITION_PENALTY,
                    eos_token_id=list(loaded.eos_token_ids) or None,
                    pad_token_id=loaded.pad_token_id,
                )
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise SummaryBackendError(
                f"Out of GPU memory generating with {self.model} ({prompt_tokens} prompt tokens).",
                hint="Use a smaller TUBESUM_SUMMARY_MODEL or TUBESUM_DEVICE=cpu.",
            ) from None
        except (RuntimeError, ValueError, IndexError) as exc:
            raise SummaryBackendError(
                f"Local LLM generation failed: {type(exc).__name__}: {_redact(str(exc), None)}"
            ) from exc
        new_tokens = output[0, prompt_tokens:]
        seconds = time.perf_counter() - started
        logger.debug(
            "chat completion",
            extra={
                "model": self.model,
                "prompt_tokens": prompt_tokens,
                "new_tokens": int(new_tokens.shape[-1]),
                "seconds": round(seconds, 3),
            },
        )
        text: str = loaded.tokenizer.decode(new_tokens, skip_special_tokens=True)
        REGISTRY.touch(self._registration.key)  # idle time counts from the end of a generation
        return text.strip()


if TYPE_CHECKING:  # mypy proves the class meets the ChatBackend protocol

    def _is_chat_backend(backend: TransformersChatBackend) -> ChatBackend:
        return backend
