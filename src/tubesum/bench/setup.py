"""One model, device and set of decoding options, shared by every measured mode of a bench run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tubesum.config import Settings
from tubesum.service import DeviceChoice, WhisperOptions, run_plan

__all__ = ["BenchSetup"]


@dataclass(frozen=True, slots=True)
class BenchSetup:
    """What every mode runs with: the resolved model, the device choice and tubesum's decoding options."""

    settings: Settings
    model_path: Path
    device: DeviceChoice
    options: WhisperOptions
    batched: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> BenchSetup:
        plan = run_plan(settings)  # what tubesum itself runs with these settings
        return cls(settings, plan.model.path, plan.device, plan.options, plan.batched)

    def child_env(self, **extra: str) -> dict[str, str]:
        """Environment for tubesum child processes: the same model, device and options as the baseline."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUBESUM_")}
        env.update(
            {
                "TUBESUM_MODEL": self.settings.model,
                "TUBESUM_MODEL_CACHE_DIR": str(self.settings.model_cache_dir),
                "TUBESUM_DEVICE": self.device.device,
                "TUBESUM_COMPUTE_TYPE": self.device.compute_type,
                "TUBESUM_CPU_THREADS": str(self.settings.cpu_threads),
                "TUBESUM_BEAM_SIZE": str(self.options.beam_size),
                "TUBESUM_VAD_FILTER": str(self.options.vad_filter).lower(),
                "TUBESUM_BATCHED": "on" if self.batched else "off",
                "TUBESUM_BATCH_SIZE": str(self.options.batch_size),
                "TUBESUM_LANGUAGE": self.options.language or "",
                "TUBESUM_WORD_TIMESTAMPS": str(self.options.word_timestamps).lower(),
                "TUBESUM_CAPTIONS": "never",
                "TUBESUM_WORKERS": str(self.settings.workers),
                "HF_HUB_OFFLINE": "1",
            }
        )
        env.update(extra)
        return env

    def baseline_cmd(self, audio: Path) -> list[str]:
        """The bare faster-whisper command line with the same options."""
        o = self.options
        cmd = [
            sys.executable,
            "-m",
            "tubesum.bench.baseline",
            "--audio",
            str(audio),
            "--model",
            str(self.model_path),
            "--device",
            self.device.device,
            "--compute-type",
            self.device.compute_type,
            "--cpu-threads",
            str(self.settings.cpu_threads),
            "--beam-size",
            str(o.beam_size),
            "--batch-size",
            str(o.batch_size),
            "--vad" if o.vad_filter else "--no-vad",
            "--batched" if self.batched else "--no-batched",
            "--word-timestamps" if o.word_timestamps else "--no-word-timestamps",
        ]
        return [*cmd, "--language", o.language] if o.language else cmd

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {
            "model": self.settings.model,
            "model_path": str(self.model_path),
            "device": self.device.device,
            "compute_type": self.device.compute_type,
            "device_reason": self.device.reason,
            "cpu_threads": self.settings.cpu_threads,
            "beam_size": o.beam_size,
            "vad_filter": o.vad_filter,
            "batched": self.batched,
            "batch_size": o.batch_size,
            "language": o.language,
            "word_timestamps": o.word_timestamps,
        }
