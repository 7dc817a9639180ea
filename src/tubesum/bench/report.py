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

__all__ = [
    "TARGETS",
    "bare_ratios",
    "fastest_accurate",
    "git_commit",
    "machine",
    "ratios",
    "targets",
    "versions",
    "write_json",
    "write_plot",
]

TARGETS = {
    "embedded_job_vs_baseline": 1.05,  # API job end to end / bare faster-whisper transcribe, 5-minute audio
    "cached_p99_ms": 20.0,
    "status_polling_rps": 3000.0,
    "default_vs_fastest_accurate": 1.05,  # tubesum's default / the fastest bare variant of near-best WER
    "wer_margin": 0.005,  # "near-best": within half a WER point of the most accurate bare variant
    "first_segment_s_5min": 3.0,  # submit → first SSE segment event, 5-minute file, model loaded
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


def fastest_accurate(bare: dict[str, Any], *, margin: float = TARGETS["wer_margin"]) -> str | None:
    """The bare variant with the shortest transcribe time among those within ``margin`` of the lowest WER."""
    scored = {name: v for name, v in bare.items() if v.get("wer") is not None}
    if not scored:
        return None
    best = min(v["wer"] for v in scored.values())
    accurate = [name for name, v in scored.items() if v["wer"] <= best + margin + 1e-9]
    return min(accurate, key=lambda name: scored[name]["transcribe_s"])


def bare_ratios(bare: dict[str, Any], api: dict[str, Any]) -> dict[str, Any]:
    """The warm API job (tubesum's default) against every bare variant's transcribe call, and its WER gap."""
    out: dict[str, Any] = {
        f"api_warm_job_vs_{name}": _ratio(api["job_s"], figures["transcribe_s"]) for name, figures in bare.items()
    }
    chosen = fastest_accurate(bare)
    out["fastest_accurate_bare"] = chosen
    out["api_warm_job_vs_fastest_accurate"] = _ratio(api["job_s"], bare[chosen]["transcribe_s"]) if chosen else None
    best = min((v["wer"] for v in bare.values() if v.get("wer") is not None), default=None)
    out["api_wer_minus_best_bare_wer"] = (
        round(api["wer"] - best, 4) if best is not None and api.get("wer") is not None else None
    )
    return out


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
    fastest = [f["ratios"].get("api_warm_job_vs_fastest_accurate") for f in files]
    gaps = [f["ratios"].get("api_wer_minus_best_bare_wer") for f in files]
    worst = max((v for v in fastest if v is not None), default=None)
    out["default_vs_fastest_accurate"] = {
        "value": worst,
        "wer_gap": max((g for g in gaps if g is not None), default=None),
        "target": f"<= {TARGETS['default_vs_fastest_accurate']} with WER within {TARGETS['wer_margin']} of the best",
        "met": worst is not None
        and worst <= TARGETS["default_vs_fastest_accurate"]
        and all(g is not None and g <= TARGETS["wer_margin"] for g in gaps),
    }
    first = five["api"].get("live_job", {}).get("first_segment_s") if five else None
    out["first_segment_s_5min"] = {
        "value": first,
        "target": f"<= {TARGETS['first_segment_s_5min']}",
        "met": first is not None and first <= TARGETS["first_segment_s_5min"],
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
