"""``tubesum transcribe``: sources in, transcripts out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tubesum.cli._common import AppContext, echo_json, error_line, pass_app
from tubesum.config import OUTPUT_FORMATS, parse_browser_cookies
from tubesum.errors import ConfigError, TubesumError

if TYPE_CHECKING:
    from tubesum.service import TranscriptionOutcome

__all__ = ["transcribe_command"]

SAMPLE_MODEL = "tiny.en"


def _formats(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...] | None:
    """Accept ``-f srt -f vtt``, ``-f srt,vtt`` and ``-f all``."""
    if not values:
        return None
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if name == "all":
                out.extend(OUTPUT_FORMATS)
            elif name in OUTPUT_FORMATS:
                out.append(name)
            elif name:
                raise click.BadParameter(f"unknown format {name!r}; use {', '.join(OUTPUT_FORMATS)} or all")
    return tuple(dict.fromkeys(out))


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
@click.option("-m", "--model", help="Model name (tiny … large-v3-turbo), Hugging Face repo id or local path.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where Whisper runs.")
@click.option("--compute-type", help="auto, int8, float16, int8_float16, float32 …")
@click.option("-l", "--language", help="Spoken language code (en, de, …); default: detect.")
@click.option(
    "-f",
    "--format",
    "formats",
    multiple=True,
    callback=_formats,
    help="Output format: txt, srt, vtt, json, md, pdf or all. Repeatable or comma-separated.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the outputs (default TUBESUM_OUTPUT_DIR or ./outputs).",
)
@click.option("--word-timestamps/--no-word-timestamps", default=None, help="Per-word timings.")
@click.option("--vad/--no-vad", "vad_filter", default=None, help="Skip silence with the VAD filter.")
@click.option(
    "--captions",
    type=click.Choice(["auto", "only", "never"]),
    help="Use the video's own subtitles: auto (when present), only (never run Whisper), never.",
)
@click.option(
    "--auto-captions/--no-auto-captions",
    default=None,
    help="Accept YouTube's automatic captions as well as human-made ones.",
)
@click.option("--summarize/--no-summarize", default=None, help="Add a summary: abstract and key points with times.")
@click.option(
    "--summary-backend",
    type=click.Choice(["auto", "extractive", "transformers", "openai"]),
    help="auto: local LLM when tubesum[summarize] is installed, else extractive.",
)
@click.option("--summary-model", help="Local LLM (hub id or directory) for the transformers backend.")
@click.option("--summary-language", help="Language of the summary (default: the transcript's).")
@click.option("--diarize/--no-diarize", default=None, help="Label speakers (tubesum[diarize] and HF_TOKEN).")
@click.option("--num-speakers", type=click.IntRange(1, 50), help="Exact number of speakers, when known.")
@click.option("--min-speakers", type=click.IntRange(1, 50), help="Fewest speakers to look for.")
@click.option("--max-speakers", type=click.IntRange(1, 50), help="Most speakers to look for.")
@click.option(
    "--speaker-name",
    "speaker_names",
    multiple=True,
    metavar="LABEL=NAME",
    help="Rename a speaker, e.g. SPEAKER_00=Alice (repeatable).",
)
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
    app: AppContext, /, sources: tuple[str, ...], sample: bool, as_json: bool, quiet: bool, **opts: Any
) -> None:
    """Transcribe YouTube URLs or media files and write txt, srt, vtt, json, md or pdf.

    \b
    Examples:
      tubesum transcribe --sample -f all
      tubesum transcribe "https://youtu.be/dQw4w9WgXcQ" -f srt -f md
      tubesum transcribe talk.mp3 --model large-v3-turbo --language de
    """
    from rich.console import Console  # imported here: `tubesum --help` and other commands never pay for them

    from tubesum.cli.progress import cli_progress
    from tubesum.service import TranscribeOptions, expand_sources, sample_path, transcribe

    if sample:
        sources = (str(sample_path()), *sources)
        opts["model"] = opts["model"] or SAMPLE_MODEL
    if not sources:
        raise ConfigError("Nothing to transcribe.", hint="Pass a YouTube URL or a file, or --sample.")
    opts["speaker_names"] = opts["speaker_names"] or None
    network = {name: opts.pop(name) for name in ("cookies_file", "cookies_from_browser")}
    options = TranscribeOptions(**opts)
    settings = options.effective(app.settings)
    if any(network.values()):
        settings = settings.model_copy(update={k: v for k, v in network.items() if v is not None})
    console = Console(stderr=True)
    reports: list[dict[str, Any]] = []
    first_error: TubesumError | None = None
    for text in sources:
        try:
            for source in expand_sources([text], settings=settings):
                with cli_progress(source.label, enabled=not (quiet or as_json), console=console) as progress:
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
