"""The measured modes: bare faster-whisper, ``tubesum transcribe``, an API job end to end, a cached re-request.

Baseline and CLI runs are separate processes. API jobs run against one ``tubesum serve`` (see
:mod:`tubesum.bench.server`): its first job pays the model load (``cold``), the following ones show the per-job
cost with the model in memory (``warm``). The caller interleaves baseline, CLI and warm API runs, so a change
in the machine's load hits every mode alike; medians are reported.
"""

from __future__ import annotations

import json
import os
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
from tubesum.bench.server import ServeProcess, wait_until
from tubesum.bench.setup import BareVariant, BenchSetup
from tubesum.bench.wer import word_error_rate

__all__ = [
    "api_job",
    "baseline_run",
    "cached_requests",
    "cli_run",
    "live_job",
    "server_metrics",
    "submit_and_wait",
    "summarize_api",
    "summarize_baseline",
    "summarize_cli",
]

_POLL = 0.1  # seconds between status polls while a job runs (each poll costs the server ~0.3 ms of CPU)
_TICKS = os.sysconf("SC_CLK_TCK")


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 4) if values else 0.0


def _process_summary(runs: Sequence[ProcessStats], audio: CorpusFile) -> dict[str, Any]:
    wall = _median([r.wall_s for r in runs])
    gpu = [r.gpu for r in runs if r.gpu]
    return {
        "repeat": len(runs),
        "wall_s": wall,
        "cpu_s": _median([r.cpu_s for r in runs]),
        "peak_rss_mb": round(statistics.median(r.peak_rss_mb for r in runs), 1),
        "realtime_factor": round(audio.seconds / wall, 2) if wall else None,
        "gpu": gpu[len(gpu) // 2] if gpu else None,
        "runs": [r.to_dict() for r in runs],
    }


def wer_of(audio: CorpusFile, text: str | None) -> float | None:
    """The word error rate of ``text`` against the file's script (None when the file has no script)."""
    if not audio.script or text is None:
        return None
    return word_error_rate(audio.script, text)


def baseline_run(
    setup: BenchSetup, audio: CorpusFile, *, workdir: Path, variant: BareVariant | None = None
) -> ProcessStats:
    """One bare faster-whisper process (import, load, transcribe): tubesum's decoding plan or ``variant``."""
    return run_measured(setup.baseline_cmd(audio.path, variant), log=workdir / "baseline.log")


def summarize_baseline(runs: Sequence[ProcessStats], audio: CorpusFile) -> dict[str, Any]:
    """Whole-process medians plus the baseline's own split: import, load, transcribe (wall and CPU), and WER."""
    summary = _process_summary(runs, audio)
    for key in ("import_s", "load_s", "transcribe_s", "transcribe_cpu_s"):
        summary[key] = _median([float(r.output[key]) for r in runs])
    transcribe = summary["transcribe_s"]
    summary["transcribe_realtime_factor"] = round(audio.seconds / transcribe, 2) if transcribe else None
    summary["segments"] = runs[-1].output.get("segments")
    summary["words"] = runs[-1].output.get("words")
    summary["wer"] = wer_of(audio, runs[-1].output.get("text"))
    return summary


def cli_run(setup: BenchSetup, audio: CorpusFile, *, workdir: Path, index: int) -> ProcessStats:
    """One ``tubesum transcribe FILE -f json`` process (imports and model load included, as a user sees it)."""
    cmd = [sys.executable, "-m", "tubesum", "transcribe", str(audio.path), "-f", "json", "--json", "-q"]
    out = workdir / f"cli-out-{audio.name}-{index}"
    return run_measured([*cmd, "-o", str(out)], env=setup.child_env(), log=workdir / "cli.log")


def cli_text(workdir: Path, audio: CorpusFile, index: int) -> str | None:
    """The transcript text ``tubesum transcribe`` wrote for ``audio`` in run ``index`` (its JSON file)."""
    for path in sorted((workdir / f"cli-out-{audio.name}-{index}").glob("*.json")):
        return str(json.loads(path.read_text()).get("text", ""))
    return None


def summarize_cli(runs: Sequence[ProcessStats], audio: CorpusFile, text: str | None = None) -> dict[str, Any]:
    summary = _process_summary(runs, audio)
    summary["wer"] = wer_of(audio, text)
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


def submit_and_wait(
    client: httpx.Client, url: str, *, timeout: float = 3600, keep_text: bool = False
) -> dict[str, Any]:
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
    return {
        "id": job_id,
        "client_s": round(time.perf_counter() - started, 4),
        "wait_s": _seconds(job["started_at"], job["created_at"]),
        "run_s": _seconds(job["finished_at"], job["started_at"]),
        "server_s": _seconds(job["finished_at"], job["created_at"]),
        "cache_hit": job["cache_hit"],
        "result_bytes": len(result.content),
        "segments": len(result.json().get("segments", [])),
        **({"text": result.json().get("text", "")} if keep_text else {}),
    }


def live_job(client: httpx.Client, url: str) -> dict[str, Any]:
    """Submit ``url`` and follow its events stream: seconds from submit to the first ``segment`` event and to ``end``.

    The first words a user sees (browser UI, OpenAI ``stream=true``): issue 18's target is 3 s on the 5-minute
    file. The server has the model loaded already (run after the cold job).
    """
    started = time.perf_counter()
    created = client.post("/v1/jobs", json={"source": url, "options": {"formats": ["json"]}})
    if created.status_code not in (200, 202):
        raise BenchError(f"Submitting a bench job failed: HTTP {created.status_code}.", body=created.text[:300])
    job_id = created.json()["id"]
    first: float | None = None
    segments = 0
    event = ""
    with client.stream("GET", f"/v1/jobs/{job_id}/events", params={"segments": "true"}) as answer:
        for line in answer.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "segment":
                segments += 1
                first = first if first is not None else time.perf_counter() - started
            elif line.startswith("data:") and event == "end":
                break
    return {
        "id": job_id,
        "first_segment_s": round(first, 4) if first is not None else None,
        "end_s": round(time.perf_counter() - started, 4),
        "segment_events": segments,
    }


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def api_job(server: ServeProcess, client: httpx.Client, url: str) -> dict[str, Any]:
    """One job end to end, plus the server CPU time it took (the server runs nothing else meanwhile)."""
    assert server.proc is not None
    before = _cpu_seconds(server.proc.pid)
    timing = submit_and_wait(client, url, keep_text=True)
    timing["server_cpu_s"] = round(_cpu_seconds(server.proc.pid) - before, 3)
    return timing


def server_metrics(client: httpx.Client) -> dict[str, Any]:
    """Model loads (count, seconds) and wall seconds per pipeline stage, from the server's /metrics."""
    loads = {"count": 0.0, "seconds": 0.0}
    stages: dict[str, float] = {}
    for line in client.get("/metrics").text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("tubesum_model_load_seconds_count"):
            loads["count"] += float(value)
        elif name.startswith("tubesum_model_load_seconds_sum"):
            loads["seconds"] = round(loads["seconds"] + float(value), 4)
        elif name.startswith("tubesum_stage_duration_seconds_sum{"):
            stage = name.split('stage="', 1)[1].split('"', 1)[0]
            stages[stage] = round(float(value), 4)
    return {"model_loads": loads, "stage_seconds_total": stages}


def summarize_api(cold: dict[str, Any], warm: Sequence[dict[str, Any]], audio: CorpusFile) -> dict[str, Any]:
    """Medians of the warm jobs (the cold one alone when there are none)."""
    jobs = list(warm) or [cold]
    job_s = _median([j["client_s"] for j in jobs])
    return {
        "cold_job": cold,
        "warm_jobs": list(warm),
        "jobs_run": 1 + len(warm),
        "job_s": job_s,
        "run_s": _median([j["run_s"] for j in jobs if j["run_s"] is not None]),
        "job_cpu_s": _median([j["server_cpu_s"] for j in jobs]),
        "realtime_factor": round(audio.seconds / job_s, 2) if job_s else None,
        "wer": wer_of(audio, jobs[-1].get("text")),
    }


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
