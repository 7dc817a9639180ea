"""``tubesum bench``: measure tubesum against bare faster-whisper and against peer servers on the same audio.

One module per job:
- :mod:`~tubesum.bench.corpus`: seeded espeak-ng speech, cached, with its SHA-256;
- :mod:`~tubesum.bench.setup`: one model, device and option set for every mode;
- :mod:`~tubesum.bench.proc` and :mod:`~tubesum.bench.launcher`: one measured child process (wall, CPU, peak
  RSS; GPU through NVML);
- :mod:`~tubesum.bench.baseline`: bare faster-whisper, run as its own process;
- :mod:`~tubesum.bench.server`: a real ``tubesum serve`` and a loopback media server;
- :mod:`~tubesum.bench.modes`: baseline, CLI, API job, cached re-request;
- :mod:`~tubesum.bench.load`: bounded HTTP load (wrk when installed, else httpx);
- :mod:`~tubesum.bench.sweep`: jobs submitted at once; :mod:`~tubesum.bench.peers`: OpenAI-style servers;
- :mod:`~tubesum.bench.report`: machine, versions, ratios, targets, JSON and PNG;
- :mod:`~tubesum.bench.run`: one whole run; :mod:`~tubesum.bench.records`: records and the error.

Speed is reported, never asserted.
"""

from __future__ import annotations

from tubesum.bench.records import BenchError

__all__ = ["BenchError"]
