"""Cross-job batching: merge compatible model calls from several jobs into one.

The first request runs at once; requests that arrive while the model is busy wait and are merged into the
next call (continuous batching, no artificial delay). A merged call holds at most ``max_rows`` feature rows and a
request is never split. Requests are compatible when their key (tokenizer language and task, decoding options
compared by value) is equal. Results and exceptions reach each caller through its future.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BatchStats", "CrossBatcher", "batcher_for", "request_key"]

Forward = Callable[[Any, Any, list[Any], Any], list[Any]]

_registry_lock = threading.Lock()
_registry: weakref.WeakKeyDictionary[Any, dict[int, CrossBatcher]] = weakref.WeakKeyDictionary()


# Per-audio fields of faster-whisper's TranscriptionOptions that the batched model call does not read: the
# batched pipeline stores each file's VAD speech ranges in ``clip_timestamps``.
_PER_AUDIO = frozenset({"clip_timestamps"})


def request_key(tokenizer: Any, options: Any) -> tuple[Any, ...]:
    """Requests with equal keys may share a model call: same language and task, same decoding options (compared
    by value: they hold lists), whatever audio they came from."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        decoding: Any = {
            f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name not in _PER_AUDIO
        }
    else:
        decoding = options
    return (getattr(tokenizer, "language_code", None), getattr(tokenizer, "task", None), repr(decoding))


@dataclass
class _Request:
    key: tuple[Any, ...]
    features: Any
    tokenizer: Any
    chunks: list[Any]
    options: Any
    future: Future[list[Any]] = field(default_factory=Future)

    @property
    def rows(self) -> int:
        return len(self.features)


@dataclass
class BatchStats:
    calls: int = 0
    merged_calls: int = 0
    rows: list[int] = field(default_factory=list)


class CrossBatcher:
    """Serialises calls to one model and merges compatible requests that queue up meanwhile."""

    def __init__(self, forward: Forward, max_rows: int) -> None:
        self._forward = forward
        self._max_rows = max(1, max_rows)
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._busy = False
        self.stats = BatchStats()

    def submit(self, features: Any, tokenizer: Any, chunks: Sequence[Any], options: Any) -> list[Any]:
        request = _Request(request_key(tokenizer, options), features, tokenizer, list(chunks), options)
        with self._lock:
            self._pending.append(request)
            lead = not self._busy
            self._busy = True
        if lead:
            self._drain()
        return request.future.result()

    def _drain(self) -> None:
        while True:
            with self._lock:
                group = self._take_group()
                if not group:
                    self._busy = False
                    return
            self._run(group)

    def _take_group(self) -> list[_Request]:
        group: list[_Request] = []
        rows = 0
        for request in list(self._pending):
            if group and (request.key != group[0].key or rows + request.rows > self._max_rows):
                continue
            self._pending.remove(request)
            if not request.future.set_running_or_notify_cancel():
                continue  # cancelled while waiting: the others still run
            group.append(request)
            rows += request.rows
        return group

    def _run(self, group: list[_Request]) -> None:
        first = group[0]
        try:
            features = np.concatenate([r.features for r in group]) if len(group) > 1 else first.features
            chunks = [chunk for r in group for chunk in r.chunks]
            output = self._forward(features, first.tokenizer, chunks, first.options)
            if len(output) != len(features):
                raise RuntimeError(f"model returned {len(output)} rows for {len(features)}")
        except BaseException as error:  # every caller of the merged call gets the error
            for request in group:
                request.future.set_exception(error)
            return
        finally:
            with self._lock:
                self.stats.calls += 1
                self.stats.merged_calls += len(group) > 1
                self.stats.rows.append(sum(r.rows for r in group))
        start = 0
        for request in group:
            request.future.set_result(list(output[start : start + request.rows]))
            start += request.rows


def batcher_for(model: Any, *, max_rows: int, forward: Callable[[], Forward]) -> CrossBatcher:
    """The process-wide batcher of ``model`` for merged calls of at most ``max_rows`` rows: every job that
    decodes with the same loaded model (the model registry loads each once) shares it. ``forward`` builds the
    model call the first time. The batcher goes when the model is unloaded (weak reference)."""
    with _registry_lock:
        batchers = _registry.setdefault(model, {})
        if max_rows not in batchers:
            batchers[max_rows] = CrossBatcher(forward(), max_rows)
        return batchers[max_rows]
