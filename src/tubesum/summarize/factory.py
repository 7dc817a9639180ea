"""Pick and build the summarizer the settings ask for, once per process.

* ``extractive`` - TextRank over the transcript's sentences (no model, always available);
* ``openai`` - LlmSummarizer over any OpenAI-compatible endpoint (``openai_*`` settings);
* ``transformers`` - LlmSummarizer over a local chat model (needs the ``summarize`` extra);
* ``auto`` - transformers when torch and transformers are installed and the model is available, else
  extractive.

Summarizers are cached per process keyed by backend and model (plus the settings that change them), so a
local model loads once and an endpoint's connection pool is reused.

Usage::

    transcript = summarize_transcript(transcript, settings=settings, progress=progress)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import threading
from collections.abc import Callable, Hashable

from tubesum.config import Settings
from tubesum.errors import ConfigError, MissingExtraError, ModelNotFoundError
from tubesum.progress import ProgressFn
from tubesum.records import Transcript
from tubesum.summarize.base import ChatBackend, Summarizer
from tubesum.summarize.extractive import ExtractiveSummarizer
from tubesum.summarize.llm import LlmSummarizer
from tubesum.summarize.openai_backend import OpenAIChatBackend

__all__ = ["BACKENDS", "clear_summarizers", "get_summarizer", "resolve_backend", "summarize_transcript"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "extractive", "transformers", "openai")

_cache: dict[tuple[Hashable, ...], Summarizer] = {}
_lock = threading.Lock()


def resolve_backend(name: str) -> str:
    """Return the concrete backend for ``name`` (``auto`` becomes transformers or extractive)."""
    if name not in BACKENDS:
        raise ConfigError(f"Unknown summary backend {name!r}.", hint=f"Use one of: {', '.join(BACKENDS)}.")
    if name != "auto":
        return name
    local = all(importlib.util.find_spec(module) is not None for module in ("transformers", "torch"))
    return "transformers" if local else "extractive"


def get_summarizer(settings: Settings, *, backend: str | None = None) -> Summarizer:
    """Return the (cached) summarizer for ``backend`` (default: ``settings.summary_backend``).

    Raises MissingExtraError when the transformers backend is asked for without the ``summarize`` extra.
    """
    requested = backend or settings.summary_backend
    name = resolve_backend(requested)
    points = settings.summary_max_points
    if name == "extractive":
        return _cached(("extractive", None, points), lambda: ExtractiveSummarizer(max_points=points))
    if name == "openai":
        key: tuple[Hashable, ...] = (
            "openai",
            settings.openai_model,
            settings.openai_base_url,
            settings.openai_timeout,
            settings.openai_retries,
            settings.openai_api_key,  # SecretStr hashes by value and never shows it
            points,
        )
        return _cached(key, lambda: LlmSummarizer(OpenAIChatBackend.from_settings(settings), max_points=points))
    local_key: tuple[Hashable, ...] = (
        "transformers",
        settings.summary_model,
        settings.summary_gguf_file,
        settings.device,
        points,
    )
    try:
        return _cached(local_key, lambda: LlmSummarizer(_transformers_backend(settings), max_points=points))
    except (MissingExtraError, ModelNotFoundError) as exc:
        if requested != "auto":
            raise
        # auto promises a summary: the extractive one is labelled as such in every output.
        logger.warning("local LLM summaries unavailable (%s); using extractive summaries", exc.code)
        return _cached(("extractive", None, points), lambda: ExtractiveSummarizer(max_points=points))


def summarize_transcript(
    transcript: Transcript, *, settings: Settings, progress: ProgressFn | None = None
) -> Transcript:
    """Return ``transcript`` with a summary by the configured backend, in ``settings.summary_language``."""
    summarizer = get_summarizer(settings)
    summary = summarizer.summarize(transcript, language=settings.summary_language, progress=progress)
    return dataclasses.replace(transcript, summary=summary)


def clear_summarizers() -> None:
    """Forget every cached summarizer (tests). Summarizers hold no model: memory goes with the model registry."""
    with _lock:
        _cache.clear()


def _cached(key: tuple[Hashable, ...], build: Callable[[], Summarizer]) -> Summarizer:
    with _lock:  # held while a model loads: a second caller waits for it instead of loading it again
        summarizer = _cache.get(key)
        if summarizer is None:
            summarizer = _cache[key] = build()
        return summarizer


def _transformers_backend(settings: Settings) -> ChatBackend:
    """Import the transformers backend only now: it needs torch, which ``import tubesum`` must never load."""
    try:
        from tubesum.summarize.transformers_backend import TransformersChatBackend
    except ImportError as exc:
        raise MissingExtraError("Local LLM summaries", "summarize", package="transformers") from exc
    return TransformersChatBackend.from_settings(settings)
