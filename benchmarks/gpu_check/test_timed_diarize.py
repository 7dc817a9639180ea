"""Timed pyannote diarization on CUDA through tubesum's Diarizer (random-weight pipeline from the pyannote tests)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from test_diarize_pyannote import _fresh, make_settings, pipeline_dir, sample_audio  # noqa: F401
from tubesum.diarize.pyannote_backend import Diarizer
from tubesum.pipeline.decode import DecodedAudio

pytestmark = pytest.mark.gpu


def test_timed_diarize_on_cuda(pipeline_dir: Path, sample_audio: DecodedAudio, tmp_path: Path) -> None:  # noqa: F811
    dry = bool(os.environ.get("GPU_CHECK_DRY"))
    if not torch.cuda.is_available() and not dry:
        pytest.skip("needs a CUDA device visible to torch")
    seconds = 300 if not dry else 60
    samples = np.tile(sample_audio.samples, int(np.ceil(seconds * 16000 / len(sample_audio.samples))))
    audio = DecodedAudio(np.ascontiguousarray(samples[: seconds * 16000]), 16000)
    diarizer = Diarizer.from_settings(make_settings(tmp_path, diarization_model=str(pipeline_dir), device="auto"))
    figures = {"device": diarizer.device, "reason": diarizer.reason, "load_s": round(diarizer.load_seconds, 2)}
    runs = []
    for _ in range(2):
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        turns = diarizer.diarize(audio)
        runs.append(round(time.perf_counter() - t, 2))
    figures |= {
        "audio_s": seconds,
        "runs_s": runs,
        "x_realtime": round(seconds / min(runs), 1),
        "turns": len(turns),
        "speakers": len({t.speaker for t in turns}),
        "peak_mb": torch.cuda.max_memory_allocated() // 2**20 if torch.cuda.is_available() else None,
    }
    out = os.environ.get("GPU_CHECK_OUT")
    if out:
        Path(out, "pyannote_timed.json").write_text(json.dumps(figures, indent=2))
    assert turns
