"""Concurrency sweep: 1..N jobs submitted at once to ``tubesum serve``, showing how they queue.

For every level the report has each job's wait (queued → started) and run (started → finished) time as the
server recorded them, the client-side latency and the makespan of the batch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["concurrent_batch", "sweep_levels"]


def concurrent_batch(call: Callable[[int], dict[str, Any]], level: int) -> dict[str, Any]:
    """Run ``call(0..level-1)`` at once (one thread each); return their results and the batch makespan."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=level, thread_name_prefix="bench-sweep") as pool:
        results = list(pool.map(call, range(level)))
    makespan = time.perf_counter() - started
    latencies = [float(r["client_s"]) for r in results]
    return {
        "level": level,
        "makespan_s": round(makespan, 4),
        "jobs_per_minute": round(level / makespan * 60, 2),
        "latency_s": {
            "median": round(statistics.median(latencies), 4),
            "max": round(max(latencies), 4),
        },
        "jobs": results,
    }


def sweep_levels(call: Callable[[str, int], dict[str, Any]], levels: Sequence[int]) -> list[dict[str, Any]]:
    """One :func:`concurrent_batch` per level; ``call(tag, index)`` runs one job with a unique tag."""
    out = []
    for level in levels:
        batch = concurrent_batch(lambda i, level=level: call(f"sweep{level}-{i}", i), level)  # type: ignore[misc]
        waits = [j["wait_s"] for j in batch["jobs"] if j.get("wait_s") is not None]
        runs = [j["run_s"] for j in batch["jobs"] if j.get("run_s") is not None]
        if waits:
            batch["wait_s"] = {"median": round(statistics.median(waits), 4), "max": round(max(waits), 4)}
        if runs:
            batch["run_s"] = {"median": round(statistics.median(runs), 4), "max": round(max(runs), 4)}
        out.append(batch)
    return out
