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
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tubesum.bench.load import run_load as _run_load
from tubesum.bench.report import machine

RESULTS = Path(__file__).resolve().parent / "results"


def run_load(base: str, headers: dict[str, str], path: str, *, concurrency: int, seconds: float) -> dict[str, Any]:
    """Poll ``path`` from ``concurrency`` connections for ``seconds`` (tubesum.bench.load) and add the machine."""
    result = asyncio.run(_run_load(base, headers, path, concurrency=concurrency, seconds=seconds))
    result["machine"] = machine()
    return result


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
            result = run_load(base, headers, job_path, concurrency=args.concurrency, seconds=args.seconds)
        finally:
            if server is not None:
                server.kill()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
