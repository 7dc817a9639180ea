"""One model, device and set of decoding options, shared by every measured mode of a bench run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tubesum.bench.records import BenchError
from tubesum.config import Settings
from tubesum.service import DecodingPlan, DeviceChoice, WhisperOptions, run_plan

__all__ = ["BARE_VARIANTS", "BareVariant", "BenchSetup"]


@dataclass(frozen=True, slots=True)
class BareVariant:
    """One way to call bare faster-whisper: sequential ``transcribe`` or the batched pipeline."""

    name: str
    batched: bool
    without_timestamps: bool
    word_timestamps: bool = False


#: The bare configurations every run measures: faster-whisper's two modes with their own defaults, and the
#: batched pipeline with segment timestamps (what tubesum used before: it costs accuracy).
BARE_VARIANTS: tuple[BareVariant, ...] = (
    BareVariant("sequential", batched=False, without_timestamps=False),
    BareVariant("batched", batched=True, without_timestamps=True),
    BareVariant("batched_timestamps", batched=True, without_timestamps=False),
)


@dataclass(frozen=True, slots=True)
class BenchSetup:
    """What every mode runs with: the resolved model, the device choice and tubesum's decoding options."""

    settings: Settings
    model_path: Path
    device: DeviceChoice
    options: WhisperOptions
    batched: bool
    plan: DecodingPlan  # how tubesum calls faster-whisper with these options on this device

    @classmethod
    def from_settings(cls, settings: Settings) -> BenchSetup:
        plan = run_plan(settings)  # what tubesum itself runs with these settings
        return cls(settings, plan.model.path, plan.device, plan.options, plan.batched, plan.decoding)

    @property
    def tubesum_variant(self) -> BareVariant:
        """The bare call doing tubesum's work: its decoding plan (word timings included when it asks for them)."""
        plan = self.plan
        return BareVariant("tubesum_equivalent", plan.batched, plan.without_timestamps, plan.word_timestamps)

    def variants(self, names: tuple[str, ...]) -> dict[str, BareVariant]:
        """The named bare variants, plus tubesum's own plan when none of them matches it (as ``tubesum_equivalent``)."""
        chosen = {v.name: v for v in BARE_VARIANTS if v.name in names}
        unknown = set(names) - set(chosen)
        if unknown:
            raise BenchError(f"Unknown bare variants: {sorted(unknown)}.", known=[v.name for v in BARE_VARIANTS])
        mine = self.tubesum_variant
        same = [v for v in chosen.values() if (v.batched, v.without_timestamps, v.word_timestamps) == _key(mine)]
        if not same:
            chosen[mine.name] = mine
        return chosen

    def baseline_name(self, variants: dict[str, BareVariant]) -> str:
        """The variant that does tubesum's work (the baseline of the ratios)."""
        mine = _key(self.tubesum_variant)
        return next(name for name, v in variants.items() if _key(v) == mine)

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

    def baseline_cmd(self, audio: Path, variant: BareVariant | None = None) -> list[str]:
        """The bare faster-whisper command line: tubesum's decoding plan, or ``variant``'s."""
        o = self.options
        variant = variant or self.tubesum_variant
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
            "--batched" if variant.batched else "--no-batched",
            "--without-timestamps" if variant.without_timestamps else "--no-without-timestamps",
            "--word-timestamps" if variant.word_timestamps else "--no-word-timestamps",
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
            "without_timestamps": self.plan.without_timestamps,
            "decoder_word_timestamps": self.plan.word_timestamps,
            "batch_size": o.batch_size,
            "language": o.language,
            "word_timestamps": o.word_timestamps,
        }


def _key(variant: BareVariant) -> tuple[bool, bool, bool]:
    return (variant.batched, variant.without_timestamps, variant.word_timestamps)
