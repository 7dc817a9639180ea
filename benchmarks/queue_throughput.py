"""Throughput and queue overhead of N short jobs: embedded mode vs SAQ with 1 and 2 workers, in one run.

    scripts/with-test-services .venv/bin/python -m benchmarks.queue_throughput [--jobs 12 --seconds-of-speech 7]

Every mode runs real processes on loopback with the tiny.en model on CPU: ``tubesum serve`` (embedded: SQLite
store, in-process worker) or ``tubesum serve`` + ``tubesum worker`` × n on PostgreSQL (``TEST_POSTGRES_URL``, a
fresh database per mode). The same N distinct copies of one espeak-ng clip are submitted at once (distinct URLs:
no cache hits), and the job records give, per job, submit → start (queue overhead, including waiting for a free
worker) and start → finish. Writes benchmarks/results/queue_throughput.json. On 2 cores two workers compete for
the CPU with each other and with the API, so the figure to read is the ratio, not the absolute time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tubesum.bench.report import machine
from tubesum.bench.server import free_port, media_server, wait_until

RESULTS = Path(__file__).resolve().parent / "results"
TEXT = "The quick brown fox jumps over the lazy dog while the tubesum benchmark measures its queue."


@contextmanager
def _postgres_database(admin_url: str) -> Iterator[str]:
    name = f"tubesum_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def run_mode(name: str, tmp: Path, urls: list[str], *, db_url: str | None, workers: int) -> dict[str, Any]:
    """Start the servers of one mode, submit every URL at once, wait for all, return the figures."""
    from tubesum.jobs.db import make_engine
    from tubesum.jobs.migrate import upgrade
    from tubesum.jobs.store import SqlJobStore

    data = tmp / name
    db_url = db_url or f"sqlite:///{data / 'tubesum.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    _, token = SqlJobStore(engine).create_key("bench")
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "TUBESUM_PORT": str(port),
        "TUBESUM_DATA_DIR": str(data),
        "TUBESUM_WORK_DIR": str(data / "work"),
        "TUBESUM_DATABASE_URL": db_url,
        "TUBESUM_MODEL": "tiny.en",
        "TUBESUM_DEVICE": "cpu",
        "TUBESUM_WORKERS": "1",
        "TUBESUM_ALLOW_GENERIC_URLS": "true",
        "TUBESUM_ALLOW_PRIVATE_ADDRESSES": "true",
        "TUBESUM_RATE_LIMIT_PER_MINUTE": "0",
        "TUBESUM_MAX_ACTIVE_JOBS_PER_KEY": "0",
        "TUBESUM_READY_MIN_FREE_MB": "1",
        "TUBESUM_LOG_LEVEL": "WARNING",
        "TUBESUM_QUEUE": "saq" if workers else "local",
    }
    procs = [subprocess.Popen([sys.executable, "-m", "tubesum", "serve"], env=env, stderr=subprocess.DEVNULL)]
    procs += [
        subprocess.Popen([sys.executable, "-m", "tubesum", "worker", "--queue", "cpu"], env=env) for _ in range(workers)
    ]
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            wait_until(lambda: _ready(client), timeout=90, what="the API", interval=0.2)
            if workers:  # every worker registered (model loads lazily: its first job pays the load, as in embedded)
                wait_until(
                    lambda: f"cpu: {workers} worker(s)" in client.get("/readyz").text,
                    timeout=60,
                    what="the workers",
                    interval=0.2,
                )
                time.sleep(2)
            started = time.perf_counter()
            ids = [
                client.post("/v1/jobs", json={"source": url, "options": {"formats": ["txt"]}}).json()["id"]
                for url in urls
            ]
            jobs = wait_until(lambda: _all_finished(client, ids), timeout=900, what="every job", interval=0.2)
            wall = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    states = [job["state"] for job in jobs]
    waits = [_seconds(job["created_at"], job["started_at"]) for job in jobs]
    runs = [_seconds(job["started_at"], job["finished_at"]) for job in jobs]
    first_wait = min(waits)
    return {
        "mode": name,
        "workers": workers or 1,
        "jobs": len(jobs),
        "succeeded": states.count("succeeded"),
        "wall_s": round(wall, 2),
        "jobs_per_minute": round(len(jobs) / wall * 60, 1),
        "submit_to_start_first_s": round(first_wait, 3),
        "submit_to_start_p50_s": round(statistics.median(waits), 2),
        "run_p50_s": round(statistics.median(runs), 2),
    }


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def _all_finished(client: httpx.Client, ids: list[str]) -> list[dict[str, Any]] | None:
    jobs = [client.get(f"/v1/jobs/{job_id}").json() for job_id in ids]
    return jobs if all(job["state"] in ("succeeded", "failed", "cancelled") for job in jobs) else None


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", ""))
    parser.add_argument("--out", type=Path, default=RESULTS / "queue_throughput.json")
    args = parser.parse_args(argv)
    if not args.postgres_url:
        parser.error("needs PostgreSQL: run under scripts/with-test-services or pass --postgres-url")
    with tempfile.TemporaryDirectory(prefix="tubesum-bench-queue-") as tmp_name:
        tmp = Path(tmp_name)
        media = tmp / "media"
        media.mkdir()
        clip = media / "clip.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(clip), TEXT], check=True)
        for n in range(args.jobs):
            shutil.copy(clip, media / f"clip-{n:03d}.wav")
        with media_server(media) as media_base:
            urls = [media_base.url(f"clip-{n:03d}.wav") for n in range(args.jobs)]
            modes = [run_mode("embedded", tmp, urls, db_url=None, workers=0)]
            for workers in (1, 2):
                with _postgres_database(args.postgres_url) as db_url:
                    modes.append(run_mode(f"saq-{workers}", tmp, urls, db_url=db_url, workers=workers))
    embedded = modes[0]
    for mode in modes:
        mode["wall_vs_embedded"] = round(mode["wall_s"] / embedded["wall_s"], 2)
    result = {
        "benchmark": "queue_throughput",
        "clip_text": TEXT,
        "modes": modes,
        "machine": machine(),
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(m["succeeded"] == m["jobs"] for m in modes) else 1


if __name__ == "__main__":
    sys.exit(main())
