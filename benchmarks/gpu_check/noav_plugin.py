"""pytest plugin for the GPU check: where PyAV is missing (the device has none), tubesum's decode_audio reads
16-bit PCM wav files with the standard library instead, so tests that decode pyannote's sample.wav still run."""

from __future__ import annotations

import importlib.util
import wave
from pathlib import Path


def pytest_configure(config: object) -> None:
    spec = importlib.util.find_spec("av")
    if spec is not None and not getattr(spec, "origin", "").endswith("av_shim/av/__init__.py"):
        return
    import numpy as np

    from tubesum.pipeline import decode

    def decode_wav(path: Path, *args: object, **kwargs: object) -> decode.DecodedAudio:
        with wave.open(str(path)) as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
            raw = w.readframes(w.getnframes())
        return decode.DecodedAudio(np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0, 16000)

    decode.decode_audio = decode_wav  # type: ignore[assignment]
