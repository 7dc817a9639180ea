"""The measured modes: bare faster-whisper, ``tubesum transcribe``, an API job end to end, a cached re-request.

Baseline and CLI runs are separate processes (``repeat`` times each, medians reported). API jobs run against one
``tubesum serve`` (see :mod:`tubesum.bench.server`): the first job pays the model load, the following ones show
the per-job cost with the model already in memory.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tubesum.bench.proc import run_measured
from tubesum.bench.records import BenchError, CorpusFile, ProcessStats, summarize_latencies
from tubesum.bench.server import MediaServer, ServeProcess, wait_until
from tubesum.bench.setup import BenchSetup

__all__ = ["api_jobs", "cached_requests", "measure_baseline", "measure_cli", "submit_and_wait"]

_POLL = 0.1  # seconds between status polls while a job runs (each poll costs the server ~1 ms of CPU)


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 4) if values else 0.0


def _process_summary(runs: Sequence[ProcessStats], audio: CorpusFile) -> dict[str, Any]:
    wall = _median([r.wall_s for r in runs])
    summary: dict[str, Any] = {
        "repeat": len(runs),
        "wall_s": wall,
        "cpu_s": _median([r.cpu_s for r in runs]),
        "peak_rss_mb": round(statistics.median(r.peak_rss_mb for r in runs), 1),
        "realtime_factor": round(audio.seconds / wall, 2) if wall else None,
        "runs": [r.to_dict() for r in runs],
    }
    gpu = [r.gpu for r in runs if r.gpu]
    summary["gpu"] = gpu[len(gpu) // 2] if gpu else None
    return summary


def measure_baseline(setup: BenchSetup, audio: CorpusFile, *, repeat: int, workdir: Path) -> dict[str, Any]:
    """Bare faster-whisper, one process per run: whole-process figures plus its own load/transcribe split."""
    runs = [run_measured(setup.baseline_cmd(audio.path), log=workdir / "baseline.log") for _ in range(repeat)]
    summary = _process_summary(runs, audio)
    for key in ("import_s", "load_s", "transcribe_s"):
        summary[key] = _median([float(r.output[key]) for r in runs])
    summary["transcribe_realtime_factor"] = (
        round(audio.seconds / summary["transcribe_s"], 2) if summary["transcribe_s"] else None
    )
    summary["segments"] = runs[-1].output.get("segments")
    summary["words"] = runs[-1].output.get("words")
    return summary


def measure_cli(setup: BenchSetup, audio: CorpusFile, *, repeat: int, workdir: Path) -> dict[str, Any]:
    """``tubesum transcribe FILE -f json``, one process per run (model load included, as a user sees it)."""
    cmd = [sys.executable, "-m", "tubesum", "transcribe", str(audio.path), "-f", "json", "--json", "-q"]
    runs = []
    for index in range(repeat):
        out = workdir / f"cli-out-{index}"
        runs.append(run_measured([*cmd, "-o", str(out)], env=setup.child_env(), log=workdir / "cli.log"))
    summary = _process_summary(runs, audio)
    reports = [r.output.get("results", [{}])[0] for r in runs]
    if not all(report.get("ok") for report in reports):
        raise BenchError("tubesum transcribe did not succeed in the bench.", report=str(reports)[:500])
    summary["pipeline_s"] = _median([float(report["seconds"]) for report in reports])
    summary["segments"] = reports[-1].get("segments")
    return summary


def _seconds(later: str | None, earlier: str | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds(), 4)


def submit_and_wait(client: httpx.Client, url: str, *, timeout: float = 3600) -> dict[str, Any]:
    """Submit ``url`` as a job, poll until it ends and fetch the JSON result.

    Returns the job as the client saw it (``client_s``) and as the server recorded it (``wait_s``, ``run_s``).
    """
    started = time.perf_counter()
    created = client.post("/v1/jobs", json={"source": url, "options": {"formats": ["json"]}})
    if created.status_code not in (200, 202):
        raise BenchError(f"Submitting a bench job failed: HTTP {created.status_code}.", body=created.text[:300])
    job_id = created.json()["id"]

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    job = wait_until(finished, timeout=timeout, what=f"job {job_id}", interval=_POLL)
    if job["state"] != "succeeded":
        raise BenchError(f"Bench job {job_id} ended {job['state']}.", error=str(job.get("error")))
    result = client.get(f"/v1/jobs/{job_id}/result", params={"format": "json"})
    result.raise_for_status()
    return dict(
        id=job_id,
        client_s=round(time.perf_counter() - started, 4),
        wait_s=_seconds(job["started_at"], job["created_at"]),
        run_s=_seconds(job["finished_at"], job["started_at"]),
        server_s=_seconds(job["finished_at"], job["created_at"]),
        cache_hit=job["cache_hit"],
        result_bytes=len(result.content),
        segments=len(result.json().get("segments", [])),
    )


def api_jobs(server: ServeProcess, media: MediaServer, audio: Path, *, jobs: int, label: str = "api") -> dict[str, Any]:
    """Run ``1 + jobs`` distinct jobs one after another: the first loads the model, the rest reuse it."""
    with server.client() as client:
        timings = [submit_and_wait(client, media.url(audio.name, tag=f"{label}-{i}")) for i in range(jobs + 1)]
        load = model_loads(client)
    cold, warm = timings[0], timings[1:]
    return {
        "cold_job": cold,
        "warm_jobs": warm,
        "job_s": _median([t["client_s"] for t in warm]) if warm else cold["client_s"],
        "run_s": _median([t["run_s"] for t in warm if t["run_s"] is not None]) if warm else cold["run_s"],
        "model_loads": load,
        "last_url": media.url(audio.name, tag=f"{label}-{jobs}"),
    }


def model_loads(client: httpx.Client) -> dict[str, float]:
    """Read how many times the server loaded a Whisper model, and how long that took, from /metrics."""
    text = client.get("/metrics").text
    count = total = 0.0
    for line in text.splitlines():
        if line.startswith("tubesum_model_load_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith("tubesum_model_load_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
    return {"count": count, "seconds": round(total, 4)}


def cached_requests(server: ServeProcess, url: str, *, requests: int) -> dict[str, Any]:
    """Re-submit a finished job's URL ``requests`` times: each answer must be a cache hit; time it."""
    submit: list[float] = []
    with_result: list[float] = []
    with server.client() as client:
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.post("/v1/jobs", json={"source": url, "options": {"formats": ["json"]}})
            submitted = time.perf_counter()
            body = answer.json()
            if answer.status_code != 200 or not body.get("cache_hit"):
                raise BenchError("A re-request was not answered from the cache.", status=answer.status_code)
            client.get(f"/v1/jobs/{body['id']}/result", params={"format": "json"}).raise_for_status()
            done = time.perf_counter()
            submit.append(submitted - started)
            with_result.append(done - started)
    return {"submit": summarize_latencies(submit), "submit_and_result": summarize_latencies(with_result)}
