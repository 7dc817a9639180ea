"""Start-up cost of the CLI against a bare Python process, interleaved rounds, medians (issue 18, target 3).

    PYTHONPATH=src python benchmarks/startup.py --rounds 7 --out benchmarks/results/startup.json

Measures whole processes: ``python -c pass``; ``tubesum --help``; bare faster-whisper's imports
(``import faster_whisper``, what the baseline process loads before its work); and ``tubesum transcribe``'s own
code up to its model load: the real command (``main()`` with ``transcribe --sample -q`` and a model directory
that does not exist, so it runs the CLI group, settings, logging, options, the service, the source checks and
the audio probe, then stops where the model would load) followed by ``import faster_whisper``. The difference of
the last two is tubesum's fixed start-up over the bare process. ``transcribe_imports`` is the older proxy (the
modules the command used to import, rich included, and ``Settings()``), kept to compare with earlier runs.

Bytecode: an installed tubesum runs from cached ``.pyc`` files (pip and uv write them, or Python on first run).
A shell with ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__`` (as on the development machines) compiles
every module of pydantic, numpy, click… in every process, which more than doubles these times. So the children
run with bytecode cached under a scratch ``PYTHONPYCACHEPREFIX`` (the venv is not written to), after one warm-up
round that is not counted; ``--cold`` measures without any cache instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "python": ["-c", "pass"],
    "tubesum_help": ["-m", "tubesum", "--help"],
    "bare_imports": ["-c", "import faster_whisper"],
    "transcribe_imports": [
        "-c",
        "import tubesum.cli, tubesum.cli.transcribe, tubesum.cli.progress, tubesum.service, tubesum.logs, "
        "faster_whisper, rich.console; from tubesum.config import Settings; Settings()",
    ],
    "transcribe_cli": [
        "-c",
        "import sys\nfrom tubesum.cli import main\n"
        "sys.argv = ['tubesum', 'transcribe', '--sample', '-q', '-m', sys.argv[1] + '/no-model', '-o', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 5, exc.code  # model not found\n"
        "import faster_whisper",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare-src", type=Path, help="Another tree's src/ (e.g. before a change), same rounds.")
    parser.add_argument("--cold", action="store_true", help="No bytecode cache: every process compiles its modules.")
    args = parser.parse_args()
    cases = {name: (argv, None) for name, argv in CASES.items()}
    if args.compare_src:
        cases |= {
            f"{name}@compare": (argv, str(args.compare_src))
            for name, argv in CASES.items()
            if "tubesum" in name or "transcribe" in name
        }
    scratch = tempfile.mkdtemp(prefix="tubesum-startup-")
    base = dict(os.environ)
    if args.cold:
        base["PYTHONDONTWRITEBYTECODE"] = "1"
        base["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="tubesum-startup-nopyc-")  # empty, never written
    else:
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for round_no in range(args.rounds + (0 if args.cold else 1)):
        warm_up = not args.cold and round_no == 0
        for name, (argv, src) in cases.items():
            env = {**base, "PYTHONPATH": src} if src else base
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            extra = [scratch] if argv[0] == "-c" else []  # the scratch dir: the transcribe case's output dir
            subprocess.run([sys.executable, *argv, *extra], check=True, capture_output=True, env=env)
            if warm_up:
                continue
            times[name].append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
    medians = {name: round(statistics.median(values), 4) for name, values in times.items()}
    cpu_medians = {name: round(statistics.median(values), 4) for name, values in cpu.items()}
    result = {
        "medians_s": medians,
        "cpu_medians_s": cpu_medians,  # user + system time of the process: less moved by a shared machine's load
        "help_s": medians["tubesum_help"],
        "transcribe_fixed_over_bare_s": round(medians["transcribe_cli"] - medians["bare_imports"], 4),
        "transcribe_fixed_over_bare_cpu_s": round(cpu_medians["transcribe_cli"] - cpu_medians["bare_imports"], 4),
        "transcribe_imports_over_bare_s": round(medians["transcribe_imports"] - medians["bare_imports"], 4),
        "compared_with": str(args.compare_src) if args.compare_src else None,
        "bytecode_cache": not args.cold,
        "runs_s": {name: [round(v, 4) for v in values] for name, values in times.items()},
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
