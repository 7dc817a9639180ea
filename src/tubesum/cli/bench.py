"""``tubesum bench``: tubesum against bare faster-whisper and peer servers; ``tubesum bench corpus``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.cli.run_options import run_options

__all__ = ["bench"]


def _seconds(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[float, ...]:
    """Accept ``-d 60 -d 5m -d 30m,90s``."""
    out: list[float] = []
    for value in values:
        for part in value.split(","):
            text = part.strip().lower()
            if not text:
                continue
            scale = 60.0 if text.endswith("m") else 1.0
            try:
                out.append(float(text.rstrip("ms")) * scale)
            except ValueError:
                raise click.BadParameter(f"{part!r} is not a duration (e.g. 60, 90s, 5m)") from None
    return tuple(out)


def _levels(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("use comma-separated counts, e.g. 1,2,4") from None
    if any(level < 1 for level in levels):
        raise click.BadParameter("levels must be at least 1")
    return levels


_DEFAULT_DURATIONS = (60.0, 300.0, 1800.0)
#: The ``RunOptions`` fields the bench takes as flags (generated: ``-m/--model``, ``--device``, ``--compute-type``).
BENCH_OPTIONS = ("model", "device", "compute_type")
_durations = click.option(
    "-d",
    "--duration",
    "durations",
    multiple=True,
    callback=_seconds,
    help="Generated speech length: 60, 90s, 5m (repeatable; default 1m, 5m, 30m).",
)
_seed = click.option("--seed", type=int, default=1, show_default=True, help="Corpus seed (same seed, same bytes).")


@click.group(invoke_without_command=True)
@_durations
@_seed
@click.option("--audio", "audio", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-r", "--repeat", type=click.IntRange(1, 50), default=3, show_default=True, help="Runs per mode.")
@click.option("--jobs", type=click.IntRange(0, 50), default=1, show_default=True, help="Warm API jobs per repeat.")
@click.option("--cached-requests", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--load-seconds", type=click.FloatRange(0), default=5.0, show_default=True, help="0: no load test.")
@click.option("--load-concurrency", type=click.IntRange(1, 512), default=16, show_default=True)
@click.option(
    "--load-generator",
    type=click.Choice(["auto", "wrk", "httpx"]),
    default="auto",
    show_default=True,
    help="auto: wrk when installed (lighter), else the Python generator.",
)
@click.option("--sweep", callback=_levels, default="1,2,4", show_default=True, help="Jobs submitted at once.")
@click.option(
    "--bare",
    default="sequential,batched,batched_timestamps",
    show_default=True,
    help="Bare faster-whisper variants measured next to tubesum (comma-separated).",
)
@click.option("--peers/--no-peers", default=True, show_default=True, help="Measure the peer servers too.")
@click.option("--peer-fws", metavar="EXE", help="faster-whisper-server executable (its own venv) to measure.")
@run_options(fields=BENCH_OPTIONS)
@click.option("--batched", type=click.Choice(["auto", "on", "off"]), help="Batched inference (default auto).")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("benchmarks/results"))
@click.option("--name", default="bench", show_default=True, help="Result file stem: NAME.json and NAME.png.")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Write the PNG (tubesum[bench]).")
@click.pass_context
def bench(ctx: click.Context, /, **opts: Any) -> None:
    """Measure tubesum against bare faster-whisper and peer servers on the same audio and model.

    \b
    In one run: bare faster-whisper (sequential and batched, each with its WER), `tubesum transcribe`, an API
    job on a real `tubesum serve`, a cached re-request; then status polling and result download load, a
    concurrency sweep and the peers.
    Writes OUT_DIR/NAME.json and OUT_DIR/NAME.png. An --audio FILE with a FILE.txt next to it (the words
    spoken) gets a WER column too.
    \b
    Examples:
      tubesum bench -d 1m -d 5m --repeat 3
      tubesum bench --device cuda --compute-type float16 -d 5m --name bench-cuda
    """
    if ctx.invoked_subcommand is not None:
        return
    from tubesum.bench.run import BenchConfig, run_bench
    from tubesum.options import resolve

    app: AppContext = ctx.find_object(AppContext)  # type: ignore[assignment]
    settings = resolve(opts.pop("options"), app.settings)
    if (batched := opts.pop("batched")) is not None:  # a server setting, not a per-run option
        settings = settings.model_copy(update={"batched": batched})
    passed = ("seed", "repeat", "jobs", "cached_requests", "load_seconds", "load_concurrency", "load_generator")
    config = BenchConfig(
        durations=opts["durations"] or _DEFAULT_DURATIONS,
        audio=tuple(opts["audio"]),
        sweep=opts["sweep"],
        bare=tuple(name.strip() for name in opts["bare"].split(",") if name.strip()),
        peers=opts["peers"],
        fws=opts["peer_fws"],
        out_dir=opts["out_dir"],
        name=opts["name"],
        plot=opts["plot"],
        **{key: opts[key] for key in passed},
    )
    result = run_bench(settings, config, progress=lambda msg: click.echo(f"bench: {msg}", err=True))
    echo_json({"json": result["json"], "plot": result.get("plot"), "targets": result["targets"]})


@bench.command()
@_durations
@_seed
@pass_app
def corpus(app: AppContext, /, durations: tuple[float, ...], seed: int) -> None:
    """Generate (or reuse) the seeded speech corpus and print each file with its SHA-256."""
    from tubesum.bench.corpus import build_corpus, default_cache_dir

    files = build_corpus(
        durations or (60.0, 300.0, 1800.0), seed=seed, cache_dir=default_cache_dir(app.settings.model_cache_dir)
    )
    click.echo(json.dumps([f.to_dict() for f in files], indent=2))
