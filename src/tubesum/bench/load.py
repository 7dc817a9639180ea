"""A bounded HTTP load generator: N keep-alive connections GET one path for a fixed time, on loopback.

The generator shares the machine with the server, so its figures are a floor; ``wrk`` pinned to other cores
gives higher ones.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tubesum.bench.records import summarize_latencies

__all__ = ["run_load", "service_load"]


async def _client_loop(
    client: httpx.AsyncClient, path: str, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    while (now := time.perf_counter()) < stop_at:
        try:
            response = await client.get(path)
            if response.status_code != 200:
                errors.append(response.status_code)
        except httpx.HTTPError:
            errors.append(0)
        latencies.append(time.perf_counter() - now)


async def run_load(
    base: str, headers: dict[str, str], path: str, *, concurrency: int, seconds: float
) -> dict[str, Any]:
    """GET ``path`` from ``concurrency`` connections for ``seconds``; return throughput and latency figures."""
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10) as client:
        await client.get(path)  # warm-up: connection, first DB read
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client_loop(client, path, stop_at, latencies, errors) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    summary = summarize_latencies(latencies)
    return {
        "path": path,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": {"p50": summary["p50_ms"], "p99": summary["p99_ms"], "mean": summary["mean_ms"]},
    }


def service_load(
    base: str, headers: dict[str, str], job_id: str, *, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Status polling and JSON result download of one finished job, one after the other."""
    return {
        "status_polling": asyncio.run(
            run_load(base, headers, f"/v1/jobs/{job_id}", concurrency=concurrency, seconds=seconds)
        ),
        "result_download": asyncio.run(
            run_load(base, headers, f"/v1/jobs/{job_id}/result?format=json", concurrency=concurrency, seconds=seconds)
        ),
    }
