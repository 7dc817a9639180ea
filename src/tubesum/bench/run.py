"""One whole bench run: corpus, the four modes per file, service load, concurrency sweep, peers, report.

    result = run_bench(settings, BenchConfig(durations=(60, 300), repeat=3))

Every mode runs on the same audio with the same model, device and decoding options (:class:`BenchSetup`).
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tubesum.bench import corpus as corpus_mod
from tubesum.bench.load import service_load
from tubesum.bench.modes import (
    api_job,
    baseline_run,
    cached_requests,
    cli_run,
    cli_text,
    live_job,
    server_metrics,
    submit_and_wait,
    summarize_api,
    summarize_baseline,
    summarize_cli,
)
from tubesum.bench.peers import known_peers, measure_peer
from tubesum.bench.records import BenchError, CorpusFile
from tubesum.bench.report import (
    bare_ratios,
    git_commit,
    machine,
    ratios,
    targets,
    versions,
    write_json,
    write_plot,
)
from tubesum.bench.server import MediaServer, ServeProcess, media_server
from tubesum.bench.setup import BenchSetup
from tubesum.bench.sweep import sweep_levels
from tubesum.config import Settings

__all__ = ["BenchConfig", "run_bench"]

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to measure. Durations are seconds of generated speech; ``audio`` adds user files."""

    durations: tuple[float, ...] = (60.0, 300.0, 1800.0)
    seed: int = 1
    audio: tuple[Path, ...] = ()
    repeat: int = 3
    jobs: int = 1  # warm API jobs per repeat
    cached_requests: int = 50
    load_seconds: float = 5.0
    load_concurrency: int = 16
    load_generator: str = "auto"  # wrk when installed, else httpx
    sweep: tuple[int, ...] = (1, 2, 4)
    bare: tuple[str, ...] = ("sequential", "batched", "batched_timestamps")  # bare faster-whisper variants
    peers: bool = True
    fws: str | None = None
    out_dir: Path = Path("benchmarks/results")
    name: str = "bench"
    plot: bool = True
    cache_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


def _corpus(settings: Settings, config: BenchConfig) -> list[CorpusFile]:
    cache = config.cache_dir or corpus_mod.default_cache_dir(settings.model_cache_dir)
    files = corpus_mod.build_corpus(config.durations, seed=config.seed, cache_dir=cache)
    files += [corpus_mod.user_file(path) for path in config.audio]
    if not files:
        raise BenchError("Nothing to measure.", hint="Give at least one --duration or --audio.")
    return files


@contextlib.contextmanager
def _served(setup: BenchSetup, workdir: Path, config: BenchConfig) -> Iterator[ServeProcess]:
    server = ServeProcess(workdir=workdir, env=setup.child_env(**config.extra_env))
    try:
        server.start()
        yield server
    finally:
        server.kill()


def _measure_file(
    setup: BenchSetup, audio: CorpusFile, media: MediaServer, config: BenchConfig, workdir: Path
) -> dict[str, Any]:
    """Cold API job, then ``repeat`` rounds of every bare variant, CLI and warm API jobs interleaved, then the cache.

    ``baseline`` is the bare variant doing tubesum's work (its decoding plan); ``bare`` holds every variant.
    """
    variants = setup.variants(config.bare)
    bare_runs: dict[str, list[Any]] = {name: [] for name in variants}
    cli_runs, warm = [], []
    with _served(setup, workdir / f"serve-{audio.name}", config) as server, server.client() as client:
        url = functools.partial(media.url, audio.path.name)
        cold = api_job(server, client, url(tag=f"{audio.name}-cold"))
        for index in range(config.repeat):
            for name, variant in variants.items():
                bare_runs[name].append(baseline_run(setup, audio, workdir=workdir, variant=variant))
            cli_runs.append(cli_run(setup, audio, workdir=workdir, index=index))
            warm += [api_job(server, client, url(tag=f"{audio.name}-{index}-{j}")) for j in range(config.jobs)]
        live = live_job(client, url(tag=f"{audio.name}-live"))
        cached = cached_requests(server, url(tag=f"{audio.name}-cold"), requests=config.cached_requests)
        api = summarize_api(cold, warm, audio) | server_metrics(client)
        api["live_job"] = live
        api["server"] = server.stop().to_dict()
    for job in (cold, *warm):
        job.pop("text", None)  # the WER is kept, not the transcript
    bare = {name: summarize_baseline(runs, audio) for name, runs in bare_runs.items()}
    baseline_name = setup.baseline_name(variants)
    baseline = bare[baseline_name]
    cli = summarize_cli(cli_runs, audio, cli_text(workdir, audio, config.repeat - 1))
    return {
        "audio": audio.to_dict(),
        "baseline_variant": baseline_name,
        "baseline": baseline,
        "bare": bare,
        "cli": cli,
        "api": api,
        "cached": cached,
        "ratios": ratios(baseline, cli, api) | bare_ratios(bare, api),
    }


def _service(
    setup: BenchSetup, audio: CorpusFile, media: MediaServer, config: BenchConfig, workdir: Path
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Service load and the concurrency sweep, on a fresh server with the shortest file."""
    with _served(setup, workdir / "serve-load", config) as server, server.client() as client:
        first = submit_and_wait(client, media.url(audio.path.name, tag="load"))
        load = (
            service_load(
                server.base,
                server.headers,
                first["id"],
                concurrency=config.load_concurrency,
                seconds=config.load_seconds,
                generator=config.load_generator,
            )
            if config.load_seconds > 0
            else None
        )
        levels = sweep_levels(
            lambda tag, _i: submit_and_wait(client, media.url(audio.path.name, tag=tag)), config.sweep
        )
        stats = server.stop().to_dict()
    sweep = {"audio": audio.name, "workers": server_workers(setup), "levels": levels, "server": stats}
    return load, sweep if config.sweep else None


def server_workers(setup: BenchSetup) -> int:
    from tubesum.jobs.executor import worker_count

    return worker_count(setup.settings)


def run_bench(
    settings: Settings, config: BenchConfig, *, progress: Callable[[str], None] = lambda _msg: None
) -> dict[str, Any]:
    """Measure everything ``config`` asks for and write ``<out_dir>/<name>.json`` (and ``.png``)."""
    setup = BenchSetup.from_settings(settings)
    files = _corpus(settings, config)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "git": git_commit(),
        "setup": setup.describe(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items() if k != "extra_env"},
        "corpus": [f.to_dict() for f in files],
        "files": [],
    }
    with tempfile.TemporaryDirectory(prefix="tubesum-bench-") as tmp:
        workdir = Path(tmp)
        media_root = workdir / "media"
        media_root.mkdir()
        for audio in files:
            (media_root / audio.path.name).symlink_to(audio.path)
        with media_server(media_root) as media:
            for audio in files:
                progress(f"measuring {audio.name}: baseline, CLI, API, cached")
                result["files"].append(_measure_file(setup, audio, media, config, workdir))
            shortest = min(files, key=lambda f: f.seconds)
            progress(f"service load and concurrency sweep on {shortest.name}")
            result["service_load"], result["sweep"] = _service(setup, shortest, media, config, workdir)
        result["peers"] = _peers(setup, shortest, config, workdir, progress) if config.peers else []
    result["targets"] = targets(result)
    out = config.out_dir
    result["json"] = str(write_json(result, out / f"{config.name}.json"))
    if config.plot:
        result["plot"] = str(write_plot(result, out / f"{config.name}.png"))
        write_json(result, out / f"{config.name}.json")
    return result


def _peers(
    setup: BenchSetup, audio: CorpusFile, config: BenchConfig, workdir: Path, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    out = []
    for peer in known_peers(setup, workdir, fws=config.fws):
        progress(f"peer {peer.name}")
        try:
            out.append(measure_peer(peer, audio.path, levels=config.sweep, workdir=workdir, env=setup.child_env()))
        except BenchError as exc:  # a peer that cannot run is reported, not fatal
            out.append({"name": peer.name, "description": peer.description, "error": exc.to_dict()})
    return out
