"""Peak memory against media length: the real pipeline (tiny.en, CPU) on generated audio of each duration.

    python -m benchmarks.long_media_memory [--minutes 30 --minutes 120 --minutes 240]

Each duration runs in its own process (``tubesum.service.transcribe_source`` on a WAV of quiet noise made by
ffmpeg, so speech detection and feature extraction see the whole length while decoding stays cheap) and
reports its peak RSS (``ru_maxrss``) and wall time. Windowed decoding and transcription (issue 20) keep the
peak flat; before it, the peak grew with the length (452 MB at 10 min, 892 MB at 40 min). Writes
benchmarks/results/long_media_memory.json and prints it. The CI-sized check is
tests/test_long_media.py::test_peak_memory_does_not_grow_with_duration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tubesum.bench.report import machine

RESULTS = Path(__file__).resolve().parent / "results"
MEASURE = """
import resource, sys
from pathlib import Path
from tubesum import service
from tubesum.config import Settings
from tubesum.records import Source

path = Path(sys.argv[1])
settings = Settings(_env_file=None, model="tiny.en", device="cpu", work_dir=Path(sys.argv[2]), max_duration=0)
service.transcribe_source(Source(kind="file", original=str(path), path=path), settings=settings)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(minutes: int, tmp: Path) -> dict[str, Any]:
    """Generate ``minutes`` of audio, transcribe it in a fresh process; return peak RSS (MiB) and wall seconds."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is required (apt-get install ffmpeg)")
    audio = tmp / f"noise-{minutes}min.wav"
    source = f"anoisesrc=a=0.002:d={minutes * 60}:seed=1"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-ar", "16000", "-ac", "1",
                    str(audio)], check=True)  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(audio), str(tmp / "work")],
        capture_output=True, text=True, check=True, env=os.environ.copy(),
    )  # fmt: skip
    wall = time.perf_counter() - started
    audio.unlink()
    peak_mib = int(done.stdout.strip().splitlines()[-1]) / 1024
    return {"minutes": minutes, "peak_rss_mib": round(peak_mib, 1), "wall_s": round(wall, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, action="append", help="durations to measure (default 30, 120, 240)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tubesum-bench-memory-") as tmp:
        rows = [measure(minutes, Path(tmp)) for minutes in args.minutes or [30, 120, 240]]
    result = {"rows": rows, "machine": machine()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "long_media_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
