"""``tubesum bench``: measure tubesum against bare faster-whisper and against peer servers on the same audio.

One module per job: :mod:`~tubesum.bench.corpus` (seeded espeak-ng speech), :mod:`~tubesum.bench.proc` (one
measured child process: wall, CPU, peak RSS, GPU), :mod:`~tubesum.bench.baseline` (bare faster-whisper, run as
its own process), :mod:`~tubesum.bench.server` (a real ``tubesum serve`` and a loopback media server),
:mod:`~tubesum.bench.modes` (baseline, CLI, API job, cached re-request), :mod:`~tubesum.bench.load` (bounded
HTTP load generator), :mod:`~tubesum.bench.sweep` (jobs submitted at once), :mod:`~tubesum.bench.peers`
(OpenAI-style transcription servers), :mod:`~tubesum.bench.report` (JSON, plot) and :mod:`~tubesum.bench.run`
(one whole run). Speed is reported, never asserted.
"""

from __future__ import annotations

from tubesum.bench.records import BenchError

__all__ = ["BenchError"]
