"""``tubesum transcribe``: sources in, transcripts out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tubesum.cli._common import AppContext, echo_json, error_line, pass_app
from tubesum.cli.run_options import run_options
from tubesum.config import parse_browser_cookies
from tubesum.errors import ConfigError, TubesumError
from tubesum.options import RunOptions, resolve

if TYPE_CHECKING:
    from tubesum.service import TranscriptionOutcome

__all__ = ["transcribe_command"]

SAMPLE_MODEL = "tiny.en"


def _browser(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_browser_cookies(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.command(name="transcribe")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@click.option("--sample", is_flag=True, help=f"Transcribe the bundled sample (offline; model {SAMPLE_MODEL}).")
@run_options
@click.option(
    "--cookies",
    "cookies_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Netscape cookies.txt for YouTube (age/login gates, bot checks); default TUBESUM_COOKIES_FILE.",
)
@click.option(
    "--cookies-from-browser",
    callback=_browser,
    metavar="BROWSER[:PROFILE]",
    help="Read YouTube cookies from a browser on this machine (chrome, firefox, edge, brave, …).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout (for scripts and CI).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@pass_app
def transcribe_command(
    app: AppContext,
    /,
    sources: tuple[str, ...],
    sample: bool,
    as_json: bool,
    quiet: bool,
    options: RunOptions,
    cookies_file: Path | None,
    cookies_from_browser: str | None,
) -> None:
    """Transcribe YouTube URLs or media files and write txt, srt, vtt, json, md or pdf.

    \b
    Examples:
      tubesum transcribe --sample -f all
      tubesum transcribe "https://youtu.be/dQw4w9WgXcQ" -f srt -f md
      tubesum transcribe talk.mp3 --model large-v3-turbo --language de
      tubesum transcribe talk.mp3 --initial-prompt "Siobhan, Kubernetes" --max-line-width 32
    """
    from tubesum.cli.progress import cli_progress
    from tubesum.service import expand_sources, sample_path, transcribe

    if sample:
        sources = (str(sample_path()), *sources)
        options = options.model_copy(update={"model": options.model or SAMPLE_MODEL})
    if not sources:
        raise ConfigError("Nothing to transcribe.", hint="Pass a YouTube URL or a file, or --sample.")
    network = {"cookies_file": cookies_file, "cookies_from_browser": cookies_from_browser}
    settings = resolve(options, app.settings)
    if any(network.values()):
        settings = settings.model_copy(update={k: v for k, v in network.items() if v is not None})
    reports: list[dict[str, Any]] = []
    first_error: TubesumError | None = None
    for text in sources:
        try:
            for source in expand_sources([text], settings=settings):
                with cli_progress(source.label, enabled=not (quiet or as_json)) as progress:
                    outcome = transcribe(source, settings=settings, progress=progress)
                reports.append(_report(outcome))
                if not as_json:
                    _print_outcome(outcome)
        except TubesumError as exc:  # report it and carry on with the next source
            first_error = first_error or exc
            reports.append({"source": text, "ok": False, "error": exc.to_dict()})
            if not as_json:
                click.echo(error_line(exc), err=True)
    if as_json:
        echo_json({"results": reports})
    if first_error is not None:
        raise SystemExit(first_error.exit_code)


def _report(outcome: TranscriptionOutcome) -> dict[str, Any]:
    t = outcome.transcript
    return {
        "source": t.source.original,
        "ok": True,
        "video_id": t.source.video_id,
        "title": t.title,
        "language": t.language,
        "origin": t.origin,
        "model": t.model,
        "duration": t.duration,
        "segments": len(t.segments),
        "seconds": round(outcome.seconds, 3),
        "device": None
        if outcome.device is None
        else {
            "device": outcome.device.device,
            "compute_type": outcome.device.compute_type,
            "reason": outcome.device.reason,
        },
        "files": {fmt: str(path) for fmt, path in outcome.files.items()},
    }


def _print_outcome(outcome: TranscriptionOutcome) -> None:
    t = outcome.transcript
    how = t.origin.replace("_", " ")
    if outcome.device is not None:
        d = outcome.device
        how = f"Whisper {t.model} on {d.device}/{d.compute_type} ({d.reason})"
    audio = f", {t.duration:.1f} s of audio" if t.duration else ""
    click.echo(
        f"{t.title}: {len(t.segments)} segments, language {t.language or '?'}{audio}, "
        f"from {how} in {outcome.seconds:.1f} s",
        err=True,
    )
    for path in outcome.files.values():
        click.echo(str(path))
