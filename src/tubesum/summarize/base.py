"""The contracts every summary backend meets.

``Summarizer`` turns a Transcript into a Summary. LLM backends implement the smaller ``ChatBackend`` (one chat
completion, token counting, context size) and share the chunking/map-reduce logic of ``LlmSummarizer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from tubesum.progress import ProgressFn
from tubesum.records import Summary, Transcript

__all__ = ["ChatBackend", "ChatMessage", "Summarizer"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


class ChatBackend(Protocol):
    """One chat model: local (transformers) or remote (OpenAI-compatible)."""

    name: str  # "transformers" | "openai"
    model: str  # model id, path or served name
    context_tokens: int  # prompt + completion must fit in this

    def count_tokens(self, text: str) -> int:
        """Return how many tokens ``text`` takes for this model (an upper-bound estimate is fine)."""
        ...

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> str:
        """Return the assistant's reply. Raises tubesum errors (SummaryError family) on failure."""
        ...


class Summarizer(Protocol):
    name: str

    def summarize(
        self, transcript: Transcript, *, language: str | None = None, progress: ProgressFn | None = None
    ) -> Summary:
        """Summarize; ``language`` forces the summary language (default: the transcript's).

        Progress is reported as ``progress("summarize", chunks_done, chunks_total)``.
        """
        ...
