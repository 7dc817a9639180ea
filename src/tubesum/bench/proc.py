"""Run one measured child process: wall time, CPU time and peak RSS from ``wait4``, GPU from NVML.

Each measured thing runs in its own process, started by a small launcher (:mod:`tubesum.bench.launcher`) so its
peak RSS is its own and not inherited from the bench's large process. No psutil: ``os.wait4`` in the launcher
returns the child's resource usage. On CUDA hosts a sampler thread records GPU memory
and utilisation through NVML (``nvidia-ml-py``) while the child runs; elsewhere ``gpu`` is None.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tubesum.bench.records import BenchError, ProcessStats

__all__ = ["Child", "GpuSampler", "run_measured", "start"]


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


_LAUNCHER = Path(__file__).with_name("launcher.py")  # run as a plain script: stdlib only, ~11 MB


@dataclass
class Child:
    """A measured command running under its own launcher (see :mod:`tubesum.bench.launcher`)."""

    launcher: subprocess.Popen[bytes]
    pid: int
    stdout_path: Path | None

    def running(self) -> bool:
        return self.launcher.poll() is None  # the launcher exits right after reporting the child's end

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> tuple[float, float, float, int]:
        """Wait for the command's end: return (wall s, CPU s, peak RSS MiB, exit code); SIGKILL at ``timeout``."""
        killer = threading.Timer(timeout, self.signal, args=(signal.SIGKILL,)) if timeout else None
        if killer is not None:
            killer.start()
        try:
            assert self.launcher.stdout is not None
            line = self.launcher.stdout.readline()
            self.launcher.wait()
        finally:
            if killer is not None:
                killer.cancel()
        if not line:
            raise BenchError("The bench launcher died before reporting.", pid=self.pid)
        report = json.loads(line)
        return report["wall_s"], report["cpu_s"], report["peak_rss_mb"], report["exit_code"]

    def stdout(self) -> bytes:
        return self.stdout_path.read_bytes() if self.stdout_path is not None and self.stdout_path.exists() else b""


def start(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None, stdout: Path | None = None
) -> Child:
    """Start ``cmd`` under a fresh launcher; stdout goes to ``stdout`` (a file) and stderr to ``log``."""
    launcher = subprocess.Popen(
        [sys.executable, "-S", "-P", str(_LAUNCHER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert launcher.stdin is not None and launcher.stdout is not None
    request = {
        "cmd": list(cmd),
        "env": dict(env) if env is not None else dict(os.environ),
        "stdout": str(stdout) if stdout else None,
        "log": str(log) if log else None,
    }
    launcher.stdin.write(json.dumps(request).encode() + b"\n")
    launcher.stdin.close()
    line = launcher.stdout.readline()
    if not line:
        launcher.wait()
        raise BenchError(f"Could not start {' '.join(cmd[:3])} …", hint="See the launcher's stderr above.")
    return Child(launcher=launcher, pid=int(json.loads(line)["pid"]), stdout_path=stdout)


def run_measured(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None, timeout: float = 3600
) -> ProcessStats:
    """Run ``cmd`` to the end and measure it; a JSON object on its stdout (last line) becomes ``output``."""
    with tempfile.TemporaryDirectory(prefix="tubesum-measured-") as tmp, GpuSampler() as sampler:
        child = start(cmd, env=env, log=log, stdout=Path(tmp) / "stdout")
        wall, cpu, rss, code = child.wait(timeout)
        stdout = child.stdout()
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
    for candidate in (text, text.splitlines()[-1]):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else {}
    return {}
