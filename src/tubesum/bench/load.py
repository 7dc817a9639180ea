"""A bounded HTTP load generator: N keep-alive connections GET one path for a fixed time, on loopback.

The generator shares the machine with the server, so its figures are a floor; ``wrk`` pinned to other cores
gives higher ones.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from typing import Any

import httpx

from tubesum.bench.records import BenchError, summarize_latencies

__all__ = ["run_load", "run_wrk", "service_load"]


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


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str) -> float:
    number = text.rstrip("usm")
    return round(float(number) * _WRK_UNITS[text[len(number) :]], 3)


def run_wrk(base: str, headers: dict[str, str], path: str, *, concurrency: int, seconds: float) -> dict[str, Any]:
    """The same measurement with ``wrk`` (one thread, C, far lighter than the Python generator)."""
    cmd = [shutil.which("wrk") or "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, base + path], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m),", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done is None or rate is None or set(percentiles) != {"50", "99"}:
        raise BenchError("Could not read wrk's report.", output=out[-500:])
    socket_errors = re.search(r"Socket errors:(.*)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errors = sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1))) if socket_errors else 0
    return {
        "path": path,
        "generator": "wrk",
        "concurrency": concurrency,
        "seconds": round(float(done.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)], 2),
        "requests": int(done.group(1)),
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
        "requests_per_second": float(rate.group(1)),
        "latency_ms": {"p50": _wrk_ms(percentiles["50"]), "p99": _wrk_ms(percentiles["99"])},
    }


def service_load(
    base: str, headers: dict[str, str], job_id: str, *, concurrency: int, seconds: float, generator: str = "auto"
) -> dict[str, Any]:
    """Status polling and JSON result download of one finished job, one after the other.

    ``generator``: ``wrk`` (when installed; ``auto`` picks it), or ``httpx`` (the asyncio generator above).
    """
    use_wrk = generator == "wrk" or (generator == "auto" and shutil.which("wrk") is not None)
    out = {}
    for name, path in (
        ("status_polling", f"/v1/jobs/{job_id}"),
        ("result_download", f"/v1/jobs/{job_id}/result?format=json"),
    ):
        if use_wrk:
            out[name] = run_wrk(base, headers, path, concurrency=concurrency, seconds=seconds)
        else:
            out[name] = asyncio.run(run_load(base, headers, path, concurrency=concurrency, seconds=seconds))
            out[name]["generator"] = "httpx"
    return out
