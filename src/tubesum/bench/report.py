"""The bench's report: machine and versions, ratios to the baseline, targets, JSON file and PNG plot."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import tubesum
from tubesum.errors import MissingExtraError

__all__ = ["TARGETS", "git_commit", "machine", "ratios", "targets", "versions", "write_json", "write_plot"]

TARGETS = {
    "embedded_job_vs_baseline": 1.05,  # API job end to end / bare faster-whisper transcribe, 5-minute audio
    "cached_p99_ms": 20.0,
    "status_polling_rps": 3000.0,
}


def _first_line(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    """Describe the host: CPU model and cores this process may use, memory, OS, GPUs seen by NVML."""
    mem_kb = _first_line("/proc/meminfo", "MemTotal")
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _first_line("/proc/cpuinfo", "model name") or platform.processor(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(int(mem_kb.split()[0]) / 2**20, 1) if mem_kb else None,
        "gpus": [],
    }
    try:
        import pynvml

        pynvml.nvmlInit()
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            total = pynvml.nvmlDeviceGetMemoryInfo(handle).total
            info["gpus"].append({"name": name if isinstance(name, str) else name.decode(), "memory_mb": total >> 20})
    except Exception:  # no nvidia-ml-py or no driver: no GPUs listed
        return info
    return info


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("tubesum", "faster-whisper", "ctranslate2", "litestar", "sqlalchemy", "uvicorn", "httpx"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> dict[str, Any] | None:
    """Return the commit (and whether the tree had changes) of the source tree tubesum runs from, if any."""
    root = Path(tubesum.__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 3) if value is not None and base else None


def ratios(baseline: dict[str, Any], cli: dict[str, Any], api: dict[str, Any]) -> dict[str, Any]:
    """Each mode against the baseline, from the measured medians.

    Warm API jobs compare with the baseline's transcribe step (both have the model loaded already); whole
    processes (CLI, cold job) with the whole baseline process. CPU ratios are the steadier figures on a shared
    machine: other tenants stretch wall time much more than CPU time.
    """
    return {
        "cli_wall": _ratio(cli["wall_s"], baseline["wall_s"]),
        "cli_cpu": _ratio(cli["cpu_s"], baseline["cpu_s"]),
        "cli_peak_rss": _ratio(cli["peak_rss_mb"], baseline["peak_rss_mb"]),
        "api_warm_job_vs_transcribe": _ratio(api["job_s"], baseline["transcribe_s"]),
        "api_warm_run_vs_transcribe": _ratio(api["run_s"], baseline["transcribe_s"]),
        "api_warm_job_cpu_vs_transcribe_cpu": _ratio(api["job_cpu_s"], baseline["transcribe_cpu_s"]),
        "api_cold_job_vs_process": _ratio(api["cold_job"]["client_s"], baseline["wall_s"]),
        "api_server_peak_rss": _ratio(api["server"]["peak_rss_mb"], baseline["peak_rss_mb"]),
    }


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Where this run stands on each target of issue 10 (None when the run did not measure it)."""
    files = result["files"]
    five = next((f for f in files if f["audio"]["seconds"] == 300), None)
    ratio = five["ratios"]["api_warm_job_vs_transcribe"] if five else None
    cached = [f["cached"]["submit_and_result"]["p99_ms"] for f in files if f.get("cached")]
    polling = (result.get("service_load") or {}).get("status_polling", {}).get("requests_per_second")
    loads = [f["api"]["model_loads"]["count"] for f in files]
    out: dict[str, Any] = {
        "embedded_job_vs_baseline_5min": {"value": ratio, "target": f"<= {TARGETS['embedded_job_vs_baseline']}"},
        "cached_p99_ms": {"value": max(cached) if cached else None, "target": f"< {TARGETS['cached_p99_ms']}"},
        "status_polling_rps": {"value": polling, "target": f">= {TARGETS['status_polling_rps']:.0f}"},
        "model_loaded_once_per_process": {"value": loads, "target": "1 per server across all its jobs"},
    }
    out["embedded_job_vs_baseline_5min"]["met"] = ratio is not None and ratio <= TARGETS["embedded_job_vs_baseline"]
    out["cached_p99_ms"]["met"] = bool(cached) and max(cached) < TARGETS["cached_p99_ms"]
    out["status_polling_rps"]["met"] = polling is not None and polling >= TARGETS["status_polling_rps"]
    out["model_loaded_once_per_process"]["met"] = bool(loads) and all(n == 1 for n in loads)
    return out


def write_json(result: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def write_plot(result: dict[str, Any], path: Path) -> Path:
    """Draw wall times per mode and file, the concurrency sweep and the peers (needs tubesum[bench])."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("The bench plot", "bench", package="matplotlib") from None
    fig, (times, sweep) = plt.subplots(1, 2, figsize=(13, 5))
    labels = [f["audio"]["name"] for f in result["files"]]
    base = [f["baseline"]["transcribe_s"] for f in result["files"]]
    series = {
        "faster-whisper process": [f["baseline"]["wall_s"] for f in result["files"]],
        "tubesum CLI process": [f["cli"]["wall_s"] for f in result["files"]],
        "tubesum API job, model loaded": [f["api"]["job_s"] for f in result["files"]],
        "tubesum API job, first (loads model)": [f["api"]["cold_job"]["client_s"] for f in result["files"]],
    }
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series.items()):
        relative = [v / b if b else 0.0 for v, b in zip(values, base, strict=True)]
        times.bar([i + index * width for i in range(len(labels))], relative, width, label=name)
    times.axhline(1.0, color="black", linewidth=1, label="faster-whisper transcribe (model loaded) = 1")
    times.axhline(TARGETS["embedded_job_vs_baseline"], color="red", linestyle="--", linewidth=1, label="target 1.05")
    times.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels)
    times.set_ylabel("wall time / bare faster-whisper transcribe (median)")
    setup = result["setup"]
    times.set_title(f"{setup['model']} on {setup['device']}/{setup['compute_type']}, {result['machine']['cpus']} CPUs")
    times.legend(fontsize=7, loc="lower left")
    for name, levels in _latency_series(result).items():
        sweep.plot([lv["level"] for lv in levels], [lv["latency_s"]["median"] for lv in levels], marker="o", label=name)
    sweep.set_xlabel("requests submitted at once")
    sweep.xaxis.get_major_locator().set_params(integer=True)
    sweep.set_ylabel("median latency per request (s)")
    sweep.set_title("concurrency: tubesum jobs vs peer servers")
    sweep.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _latency_series(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = {}
    if result.get("sweep"):
        series["tubesum serve"] = result["sweep"]["levels"]
    for peer in result.get("peers", []):
        if "levels" in peer:
            series[peer["name"]] = peer["levels"]
    return series
