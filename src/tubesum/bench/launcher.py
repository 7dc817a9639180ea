"""A small launcher that starts one measured command and reports its resource usage.

Linux counts the RSS a forked child inherits from its parent into the child's ``ru_maxrss``, even across
``exec``. The bench's own process is large (httpx, SQLAlchemy, faster-whisper's imports), so every measured
command is started by this launcher instead: a fresh, small Python process whose children start from its
small footprint. Protocol on stdin/stdout, one JSON line each:

    parent → launcher  {"cmd": [...], "env": {...}, "stdout": path | null, "log": path | null}
    launcher → parent  {"pid": 1234}
    launcher → parent  {"exit_code": 0, "wall_s": 1.2, "cpu_s": 2.3, "peak_rss_mb": 290.1}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import IO, Any

__all__ = ["main"]


def _open(path: str | None, mode: str) -> IO[bytes] | int:
    return open(path, mode) if path else subprocess.DEVNULL  # noqa: PTH123 - closed in main


def main() -> int:
    request: dict[str, Any] = json.loads(sys.stdin.readline())
    out, err = _open(request.get("stdout"), "wb"), _open(request.get("log"), "ab")
    started = time.perf_counter()
    proc = subprocess.Popen(request["cmd"], env=request.get("env"), stdout=out, stderr=err)
    print(json.dumps({"pid": proc.pid}), flush=True)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    for handle in (out, err):
        if not isinstance(handle, int):
            handle.close()
    report = {
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
