"""``tubesum bench`` on a tiny corpus: the machinery works and reports what it measured (speed is never asserted).

Real processes throughout: bare faster-whisper, ``tubesum transcribe``, ``tubesum serve`` on loopback and the
reference peer server, with the tiny.en model on CPU and a few seconds of seeded espeak-ng speech.
"""

from __future__ import annotations

import json
import shutil
import sys
import wave
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tubesum.bench.corpus import build_corpus, sha256_of
from tubesum.bench.proc import run_measured
from tubesum.bench.records import BenchError, percentile, summarize_latencies
from tubesum.cli import cli

MODES = ("baseline", "cli", "api", "cached")


def test_corpus_is_the_same_bytes_for_the_same_seed(tmp_path: Path) -> None:
    first = build_corpus([4.0, 6.0], seed=7, cache_dir=tmp_path / "a")
    again = build_corpus([4.0, 6.0], seed=7, cache_dir=tmp_path / "b")
    other = build_corpus([4.0], seed=8, cache_dir=tmp_path / "c")
    assert [f.sha256 for f in first] == [f.sha256 for f in again]
    assert first[0].path.read_bytes() == again[0].path.read_bytes()
    assert other[0].sha256 != first[0].sha256
    for f in first:
        assert sha256_of(f.path) == f.sha256 and f.seed == 7
        with wave.open(str(f.path)) as w:
            assert w.getnframes() / w.getframerate() == pytest.approx(f.seconds, abs=0.001)
    cached = build_corpus([4.0], seed=7, cache_dir=tmp_path / "a")[0]  # reused, not rebuilt
    assert cached.path.stat().st_mtime_ns == first[0].path.stat().st_mtime_ns


def test_bench_corpus_command_prints_files_with_hashes() -> None:
    result = CliRunner().invoke(cli, ["bench", "corpus", "-d", "3s", "--seed", "5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    assert entry["seconds"] == 3.0 and entry["seed"] == 5 and len(entry["sha256"]) == 64
    assert Path(entry["path"]).is_file() and "/tubesum/bench/" in entry["path"]


def test_bad_durations_and_levels_are_usage_errors() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["bench", "corpus", "-d", "soon"]).exit_code == 2
    assert runner.invoke(cli, ["bench", "--sweep", "0,2"]).exit_code == 2


def test_bench_model_flags_are_the_run_options_flags_and_reach_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-m/--model``, ``--device`` and ``--compute-type`` come from ``RunOptions`` (checked like every run's
    options); ``--batched`` is the bench's own. The bench run itself is replaced: it takes minutes."""
    import tubesum.bench.run

    seen: list[Any] = []

    def fake_run_bench(settings: Any, config: Any, *, progress: Any) -> dict[str, Any]:
        seen.append((settings, config))
        return {"json": str(tmp_path / "bench.json"), "targets": {}}

    monkeypatch.setattr(tubesum.bench.run, "run_bench", fake_run_bench)
    runner = CliRunner()
    args = ["bench", "-d", "3s", "--no-peers", "-o", str(tmp_path), "--no-plot"]
    flags = ["-m", "tiny.en", "--device", "cpu", "--compute-type", "int8", "--batched", "off"]
    result = runner.invoke(cli, [*args, *flags], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ((settings, config),) = seen
    assert (settings.model, settings.device, settings.compute_type, settings.batched) == (
        "tiny.en",
        "cpu",
        "int8",
        "off",
    )
    assert config.durations == (3.0,) and config.peers is False
    result = runner.invoke(cli, args, catch_exceptions=False)  # unset flags leave the settings as they are
    assert (seen[-1][0].model, seen[-1][0].device, seen[-1][0].batched) == ("small", "auto", "auto")
    bad = runner.invoke(cli, [*args, "--device", "tpu"])
    assert bad.exit_code == 2 and "--device" in bad.output
    help_text = runner.invoke(cli, ["bench", "--help"]).output
    for flag in ("-m, --model", "--device [auto|cpu|cuda]", "--compute-type", "--batched [auto|on|off]"):
        assert flag in help_text


def test_measured_processes_each_report_their_own_peak_rss(tmp_path: Path) -> None:
    big = run_measured(
        [sys.executable, "-c", "import json; b = bytearray(300 * 2**20); print(json.dumps({'n': len(b)}))"]
    )
    small = run_measured([sys.executable, "-c", "print('{\"ok\": true}')"])
    assert big.output == {"n": 300 * 2**20} and small.output == {"ok": True}
    assert big.peak_rss_mb > 300 and small.peak_rss_mb < 50, "each figure is its own process's, not the parent's"
    assert big.wall_s > 0 and big.cpu_s > 0 and big.returncode == 0
    log = tmp_path / "failed.log"
    with pytest.raises(BenchError, match="exit code 3"):
        run_measured([sys.executable, "-c", "import sys; sys.exit(3)"], log=log)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.99) == 99.0 and percentile([], 0.5) == 0.0
    assert summarize_latencies([0.001, 0.003])["p99_ms"] == 3.0


@pytest.fixture(scope="module")
def bench_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One whole bench run through the CLI on 5 s of speech, 1 repeat (shared by the checks below)."""
    tmp = tmp_path_factory.mktemp("bench")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
    mp.setenv("TUBESUM_MODEL", "tiny.en")
    mp.setenv("TUBESUM_DEVICE", "cpu")
    mp.setenv("TUBESUM_WORKERS", "1")
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        args = ["bench", "-d", "5s", "-r", "1", "--jobs", "1", "--cached-requests", "5", "--load-seconds", "0.5"]
        args += ["--load-concurrency", "2", "--sweep", "1,2", "-o", str(tmp / "results"), "--name", "tiny"]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    data: dict[str, Any] = json.loads(Path(summary["json"]).read_text())
    data["_summary"] = summary
    return data


def test_bench_json_has_every_mode_with_sane_fields(bench_result: dict[str, Any]) -> None:
    (measured,) = bench_result["files"]
    assert set(MODES) <= set(measured)
    assert measured["audio"]["seconds"] == 5.0 and len(measured["audio"]["sha256"]) == 64
    for mode in ("baseline", "cli"):
        figures = measured[mode]
        assert figures["repeat"] == 1 and len(figures["runs"]) == 1
        assert figures["wall_s"] > 0 and figures["cpu_s"] > 0 and 50 < figures["peak_rss_mb"] < 8000
        assert figures["realtime_factor"] == pytest.approx(5.0 / figures["wall_s"], rel=0.01)
        assert figures["gpu"] is None  # CPU run
    baseline = measured["baseline"]
    assert 0 < baseline["load_s"] < baseline["wall_s"] and 0 < baseline["transcribe_s"] < baseline["wall_s"]
    assert 0 < baseline["transcribe_cpu_s"] < baseline["cpu_s"] and baseline["words"] > 3
    api = measured["api"]
    assert api["jobs_run"] == 2 and len(api["warm_jobs"]) == 1
    for job in (api["cold_job"], *api["warm_jobs"]):
        assert job["segments"] >= 1 and not job["cache_hit"] and job["run_s"] > 0 and job["wait_s"] >= 0
        assert job["client_s"] >= job["run_s"] and job["server_cpu_s"] > 0
    assert api["model_loads"]["count"] == 1 and api["model_loads"]["seconds"] > 0  # once across both jobs
    assert {"captions", "transcribe", "render"} <= set(api["stage_seconds_total"])
    assert api["server"]["cpu_s"] > 0 and api["server"]["peak_rss_mb"] > 50
    for figures in measured["cached"].values():
        assert figures["count"] == 5 and 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_bench_measures_every_bare_variant_with_its_wer(bench_result: dict[str, Any]) -> None:
    (measured,) = bench_result["files"]
    bare = measured["bare"]
    assert {"sequential", "batched", "batched_timestamps"} <= set(bare)
    # tubesum's default plan (batched, text only, sentences cut without word alignment) is bare batched decoding:
    # the baseline is that variant's call, not a separate "tubesum_equivalent" one
    assert measured["baseline_variant"] == "batched" and "tubesum_equivalent" not in bare
    assert measured["baseline"] == bare["batched"]
    for figures in bare.values():
        assert figures["repeat"] == 1 and 0 < figures["transcribe_s"] < figures["wall_s"]
        assert 0.0 <= figures["wer"] < 0.5, "5 s of clear speech: most words right, and the WER is a fraction"
    assert 0.0 <= measured["cli"]["wer"] < 0.5 and 0.0 <= measured["api"]["wer"] < 0.5
    assert measured["audio"]["script_words"] > 5
    live = measured["api"]["live_job"]
    assert live["segment_events"] >= 1 and 0 < live["first_segment_s"] <= live["end_s"]
    ratios = measured["ratios"]
    chosen = ratios["fastest_accurate_bare"]
    assert chosen in bare
    assert ratios["api_warm_job_vs_fastest_accurate"] == round(
        measured["api"]["job_s"] / bare[chosen]["transcribe_s"], 3
    )
    best = min(v["wer"] for v in bare.values())
    assert ratios["api_wer_minus_best_bare_wer"] == round(measured["api"]["wer"] - best, 4)
    target = bench_result["targets"]["default_vs_fastest_accurate"]
    assert target["value"] == ratios["api_warm_job_vs_fastest_accurate"] and isinstance(target["met"], bool)


def test_bench_ratios_come_from_the_measured_values(bench_result: dict[str, Any]) -> None:
    (measured,) = bench_result["files"]
    base, cli_run, api, ratios = measured["baseline"], measured["cli"], measured["api"], measured["ratios"]
    assert ratios["cli_wall"] == round(cli_run["wall_s"] / base["wall_s"], 3)
    assert ratios["cli_peak_rss"] == round(cli_run["peak_rss_mb"] / base["peak_rss_mb"], 3)
    assert ratios["api_warm_job_vs_transcribe"] == round(api["job_s"] / base["transcribe_s"], 3)
    assert ratios["api_cold_job_vs_process"] == round(api["cold_job"]["client_s"] / base["wall_s"], 3)
    assert ratios["api_warm_job_cpu_vs_transcribe_cpu"] == round(api["job_cpu_s"] / base["transcribe_cpu_s"], 3)
    assert api["job_s"] == api["warm_jobs"][0]["client_s"]


def test_bench_reports_load_sweep_peers_targets_and_provenance(bench_result: dict[str, Any]) -> None:
    load = bench_result["service_load"]
    for name in ("status_polling", "result_download"):
        assert load[name]["errors"] == 0 and load[name]["requests"] > 0 and load[name]["requests_per_second"] > 0
        assert load[name]["generator"] == ("wrk" if shutil.which("wrk") else "httpx")
        assert 0 < load[name]["latency_ms"]["p50"] <= load[name]["latency_ms"]["p99"]
    levels = bench_result["sweep"]["levels"]
    assert [lv["level"] for lv in levels] == [1, 2] and [len(lv["jobs"]) for lv in levels] == [1, 2]
    assert levels[1]["wait_s"]["max"] >= 0 and levels[1]["run_s"]["median"] > 0
    (reference,) = [p for p in bench_result["peers"] if p["name"] == "reference"]
    assert [lv["level"] for lv in reference["levels"]] == [1, 2] and reference["process"]["cpu_s"] > 0
    assert all(job["words"] > 3 for lv in reference["levels"] for job in lv["jobs"])
    targets = bench_result["targets"]
    assert targets["model_loaded_once_per_process"]["met"] is True
    assert targets["embedded_job_vs_baseline_5min"]["value"] is None  # no 5-minute file in this run
    assert targets == bench_result["_summary"]["targets"]
    assert bench_result["setup"]["model"] == "tiny.en" and bench_result["setup"]["device"] == "cpu"
    assert bench_result["machine"]["cpus"] >= 1 and bench_result["versions"]["faster-whisper"]
    assert bench_result["git"] is None or len(bench_result["git"]["commit"]) == 40
    assert Path(bench_result["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
