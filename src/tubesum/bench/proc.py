"""Run one measured child process: wall time, CPU time and peak RSS from ``wait4``, GPU from NVML.

Each measured thing runs in its own process so its peak RSS is its own (``ru_maxrss`` of that child only).
No psutil: ``os.wait4`` returns the child's resource usage. On CUDA hosts a sampler thread records GPU memory
and utilisation through NVML (``nvidia-ml-py``) while the child runs; elsewhere ``gpu`` is None.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tubesum.bench.types import BenchError, ProcessStats

__all__ = ["GpuSampler", "finish", "run_measured", "start"]


class GpuSampler:
    """Sample used GPU memory (MiB) and utilisation (%) of every GPU every ``interval`` seconds."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.memory_mb: list[float] = []
        self.utilisation: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            if pynvml.nvmlDeviceGetCount() > 0:
                self._nvml = pynvml
        except Exception:  # no nvidia-ml-py, no driver, no GPU: nothing to sample
            self._nvml = None

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def _sample(self) -> None:
        nvml = self._nvml
        while not self._stop.is_set():
            memory = util = 0.0
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory += nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
                util = max(util, float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
            self.memory_mb.append(memory)
            self.utilisation.append(util)
            self._stop.wait(self.interval)

    def __enter__(self) -> GpuSampler:
        if self.available:
            self._thread = threading.Thread(target=self._sample, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def summary(self) -> dict[str, float] | None:
        if not self.memory_mb:
            return None
        return {
            "peak_memory_mb": round(max(self.memory_mb), 1),
            "mean_utilisation_pct": round(sum(self.utilisation) / len(self.utilisation), 1),
            "peak_utilisation_pct": round(max(self.utilisation), 1),
        }


def start(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None, stdout_pipe: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``cmd``; its stderr (and stdout unless piped) goes to ``log`` (or is discarded)."""
    sink: IO[bytes] | int = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            list(cmd),
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE if stdout_pipe else sink,
            stderr=sink,
        )
    finally:
        if not isinstance(sink, int):
            sink.close()  # the child holds its own descriptor


def finish(proc: subprocess.Popen[bytes], started: float) -> tuple[float, float, float, int]:
    """Reap ``proc`` with ``wait4``: return (wall s, CPU s, peak RSS MiB, exit code)."""
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # already reaped by poll(): no resource figures left
        return time.perf_counter() - started, 0.0, 0.0, proc.returncode if proc.returncode is not None else -1
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, proc.returncode  # Linux: ru_maxrss is in KiB


def run_measured(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None, timeout: float = 3600
) -> ProcessStats:
    """Run ``cmd`` to the end and measure it; a JSON object on its last stdout line becomes ``output``."""
    with GpuSampler() as sampler:
        started = time.perf_counter()
        proc = start(cmd, env=env, log=log, stdout_pipe=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            assert proc.stdout is not None
            stdout = proc.stdout.read()  # until the child closes it (exits)
            proc.stdout.close()
            wall, cpu, rss, code = finish(proc, started)
        finally:
            killer.cancel()
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise BenchError(f"Measured command failed with exit code {code}: {' '.join(cmd[:4])} …", log_tail=tail)
    return ProcessStats(
        wall_s=wall, cpu_s=cpu, peak_rss_mb=rss, returncode=code, gpu=sampler.summary(), output=_last_json(stdout)
    )


def _last_json(stdout: bytes) -> dict[str, Any]:
    text = stdout.decode(errors="replace").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = json.loads(text.splitlines()[-1])
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}
