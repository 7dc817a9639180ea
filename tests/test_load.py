"""The status-polling load test runs, stays bounded and reports figures (no assertion on speed here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_status_polling_benchmark_runs_bounded_and_reports(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from benchmarks.status_polling import main

    out = tmp_path / "status_polling.json"
    assert main(["--seconds", "1.5", "--concurrency", "4", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["requests"] > 0 and result["errors"] == 0
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert 1.4 <= result["seconds"] < 10, "the load loop stops by itself"
