"""Bounded load test of status polling: N clients GET /v1/jobs/{id} on loopback for a fixed time.

    python -m benchmarks.status_polling --base http://127.0.0.1:8000 --token tsk_… [--seconds 10 --concurrency 16]

Without --base it starts its own `tubesum serve --no-worker` on a free loopback port with a temporary data dir.
Writes benchmarks/results/status_polling.json (requests/s, p50/p99 latency, errors) and prints it. The generator
shares the machine with the server, so the figure is a floor; `wrk` from another core set gives higher numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results"


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
    """Poll ``path`` from ``concurrency`` connections for ``seconds``; return throughput and latency figures."""
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10) as client:
        await client.get(path)  # warm-up: connection, first DB read
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client_loop(client, path, stop_at, latencies, errors) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else 0.0

    return {
        "path": path,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": pct(0.50),
            "p99": pct(0.99),
            "mean": round(statistics.fmean(ordered) * 1000, 2) if ordered else 0.0,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
        },
    }


def _own_server(tmp: Path) -> tuple[Any, str, dict[str, str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from servers import make_server  # the same launcher the end-to-end tests use

    server = make_server(tmp, args=("--no-worker",), TUBESUM_LOG_LEVEL="WARNING")
    server.start()
    return server, server.base, server.headers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base")
    parser.add_argument("--token")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS / "status_polling.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if args.base:
            base, headers = args.base, {"Authorization": f"Bearer {args.token}"} if args.token else {}
        else:
            server, base, headers = _own_server(Path(tmp))
        try:
            created = httpx.post(
                f"{base}/v1/jobs",
                headers=headers,
                timeout=10,
                json={"source": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
            )
            created.raise_for_status()
            job_path = f"/v1/jobs/{created.json()['id']}"
            result = asyncio.run(run_load(base, headers, job_path, concurrency=args.concurrency, seconds=args.seconds))
        finally:
            if server is not None:
                server.kill()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
