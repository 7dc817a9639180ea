"""The one place a process holds models: Whisper, the summary LLM and the pyannote pipeline register here.

Each model kind loads through :meth:`ModelRegistry.get` with a :class:`ModelKey` (kind, name, device and what
else makes two loads differ) and a loader::

    key = ModelKey("whisper", "small", "cuda", ("float16", "4"))
    model = REGISTRY.get(key, lambda: WhisperModel(...), estimate=whisper_estimate("small"))

* **load once per key**: concurrent callers of the same key wait for one load; other keys load in parallel; a
  failed load is not remembered (the next caller tries again);
* **memory estimate** per entry (``tubesum.model_estimates``), **last use** (each ``get``, :meth:`touch`, and
  :meth:`touch_since` when a job ends, so the models a job used count idle from its end);
* **unload** drops the registry's reference, collects garbage and, when torch is already imported, empties
  its CUDA cache (torch is never imported for that); :meth:`unload_idle` does it for entries unused for ``ttl``
  seconds — the embedded server and queue workers call it between jobs (``TUBESUM_MODEL_IDLE_TTL_SECONDS``);
* :meth:`snapshot` lists every model this process loaded, loaded now or not (``tubesum models status``,
  the ``tubesum_models_loaded`` metrics, GPU admission).

Callers that keep using a model after :meth:`get` hold their own reference: an unload frees its memory only
once they let go, so the executors unload only while no job runs. Base layer: imports nothing above it.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tubesum.metrics import register_collector
from tubesum.model_estimates import Estimate, ModelKind

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["REGISTRY", "ModelInfo", "ModelKey", "ModelRegistry", "ModelsCollector"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ModelKey:
    """Which model: its kind, the name it was asked for by, the device, and what else tells two loads apart
    (compute type, threads, GGUF file, dtype)."""

    kind: ModelKind
    name: str
    device: str
    variant: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One row of :meth:`ModelRegistry.snapshot`; ``idle_seconds`` is None for a model not loaded now."""

    kind: ModelKind
    name: str
    device: str
    variant: tuple[str, ...]
    loaded: bool
    estimate_mb: int
    estimate_basis: str
    loads: int
    load_seconds: float | None
    idle_seconds: float | None


@dataclass(slots=True)
class _Entry:
    key: ModelKey
    estimate: Estimate
    lock: threading.Lock = field(default_factory=threading.Lock)  # held while loading or unloading
    value: Any = None
    loads: int = 0
    load_seconds: float | None = None
    last_used: float = 0.0


class ModelRegistry:
    """Models of this process by :class:`ModelKey` (see the module docstring); every method is thread-safe.

    **Parameters:**

    * **clock** *(optional)* - the monotonic clock last use is measured on (tests pass a fake one).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # guards _entries and each entry's value/last_used
        self._entries: dict[ModelKey, _Entry] = {}

    def get(self, key: ModelKey, load: Callable[[], T], *, estimate: Estimate) -> T:
        """Return the model for ``key``, calling ``load()`` only when it is not loaded (once, however many
        threads ask at the same time). ``load``'s exceptions reach the caller and leave nothing behind."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(key, estimate)
            if entry.value is not None:
                entry.last_used = self._clock()
                return cast("T", entry.value)
        with entry.lock:
            with self._lock:
                if entry.value is not None:  # another thread loaded it while this one waited
                    entry.last_used = self._clock()
                    return cast("T", entry.value)
            started = time.perf_counter()
            value = load()
            if value is None:
                raise ValueError(f"the loader of {key} returned None")
            with self._lock:
                entry.value, entry.estimate = value, estimate
                entry.loads += 1
                entry.load_seconds = time.perf_counter() - started
                entry.last_used = self._clock()
            return value

    def touch(self, key: ModelKey) -> None:
        """Mark ``key`` as used now (long runs call it so idle unload measures from their end)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.value is not None:
                entry.last_used = self._clock()

    def now(self) -> float:
        """The registry's clock (pass it to :meth:`touch_since` after a job)."""
        return self._clock()

    def touch_since(self, since: float) -> None:
        """Mark every model used at or after ``since`` as used now: a job's models count idle from its end."""
        with self._lock:
            now = self._clock()
            for entry in self._entries.values():
                if entry.value is not None and entry.last_used >= since:
                    entry.last_used = now

    def loaded(self, kind: ModelKind | None = None) -> list[Any]:
        """Return the models loaded now (of ``kind``, or all), oldest entry first."""
        with self._lock:
            return [e.value for e in self._entries.values() if e.value is not None and kind in (None, e.key.kind)]

    def unload(self, key: ModelKey) -> bool:
        """Drop the model for ``key`` and free its memory; False when it was not loaded. Waits for a running load."""
        return bool(self._unload([key], wait=True))

    def unload_all(self, kind: ModelKind | None = None) -> list[ModelKey]:
        """Unload every model (of ``kind``); return the keys unloaded."""
        with self._lock:
            keys = [k for k, e in self._entries.items() if e.value is not None and kind in (None, k.kind)]
        return self._unload(keys, wait=True)

    def unload_idle(self, ttl: float) -> list[ModelKey]:
        """Unload the models not used for ``ttl`` seconds (``ttl`` <= 0: none); return the keys unloaded.

        Never waits: a model that is loading right now is skipped.
        """
        if ttl <= 0:
            return []
        now = self._clock()
        with self._lock:
            keys = [k for k, e in self._entries.items() if e.value is not None and now - e.last_used >= ttl]
        unloaded = self._unload(keys, wait=False, idle_before=now - ttl)
        if unloaded:
            logger.info("unloaded idle models", extra={"models": [f"{k.kind}:{k.name}" for k in unloaded]})
        return unloaded

    def _unload(self, keys: list[ModelKey], *, wait: bool, idle_before: float | None = None) -> list[ModelKey]:
        done: list[ModelKey] = []
        for key in keys:
            with self._lock:
                entry = self._entries.get(key)
            if entry is None or not entry.lock.acquire(blocking=wait):
                continue
            try:
                with self._lock:
                    if entry.value is None or (idle_before is not None and entry.last_used > idle_before):
                        continue  # gone already, or used again since the caller looked
                    entry.value = None
                done.append(key)
            finally:
                entry.lock.release()
        if done:
            _free_memory(cuda=any(k.device == "cuda" for k in done))
        return done

    def snapshot(self) -> list[ModelInfo]:
        """Every model this process has loaded, loaded now or not, oldest first."""
        now = self._clock()
        with self._lock:
            return [
                ModelInfo(
                    kind=e.key.kind,
                    name=e.key.name,
                    device=e.key.device,
                    variant=e.key.variant,
                    loaded=e.value is not None,
                    estimate_mb=e.estimate.mb,
                    estimate_basis=e.estimate.basis,
                    loads=e.loads,
                    load_seconds=e.load_seconds,
                    idle_seconds=max(0.0, now - e.last_used) if e.value is not None else None,
                )
                for e in self._entries.values()
                if e.loads
            ]

    def clear(self) -> None:
        """Unload everything and forget every entry (tests)."""
        self.unload_all()
        with self._lock:
            self._entries.clear()


def _free_memory(*, cuda: bool) -> None:
    """Collect the dropped models now; hand torch's cached CUDA blocks back when torch is already imported."""
    gc.collect()
    torch = sys.modules.get("torch")
    if not cuda or torch is None:
        return
    try:
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
    except Exception:  # a broken driver must not stop an unload
        logger.debug("torch.cuda.empty_cache failed", exc_info=True)


class ModelsCollector(Collector):
    """``tubesum_models_loaded`` and ``tubesum_models_memory_estimate_bytes`` per kind and device, at scrape time."""

    def __init__(self, snapshot: Callable[[], list[ModelInfo]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        loaded = GaugeMetricFamily(
            "tubesum_models_loaded", "Models this process holds in memory now.", labels=["kind", "device"]
        )
        memory = GaugeMetricFamily(
            "tubesum_models_memory_estimate_bytes",
            "Estimated memory of the models this process holds (VRAM on cuda, RAM on cpu).",
            labels=["kind", "device"],
        )
        totals: dict[tuple[str, str], list[int]] = {}
        for info in self._snapshot():
            if info.loaded:
                count_mb = totals.setdefault((info.kind, info.device), [0, 0])
                count_mb[0] += 1
                count_mb[1] += info.estimate_mb
        for (kind, device), (count, mb) in sorted(totals.items()):
            loaded.add_metric([kind, device], count)
            memory.add_metric([kind, device], mb * 2**20)
        yield loaded
        yield memory


REGISTRY = ModelRegistry()
"""The process-wide registry every model kind loads through."""

register_collector(ModelsCollector(REGISTRY.snapshot))
