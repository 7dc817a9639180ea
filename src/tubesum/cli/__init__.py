"""The ``tubesum`` command line: one click group, one module per command group.

Exit codes (stable, for scripts and CI):
  0 success · 1 unexpected error · 2 usage or configuration error · 3 bad source (URL, file, limits) ·
  4 download/captions failed · 5 transcription/model failed · 6 writing outputs failed ·
  7 optional extra missing · 130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import sys
from typing import Any

import click
from pydantic import ValidationError

from tubesum import __version__
from tubesum.cli._common import AppContext, fail
from tubesum.config import Settings
from tubesum.errors import ConfigError, TubesumError
from tubesum.logs import configure_logging

__all__ = ["cli", "main"]


class TubesumGroup(click.Group):
    """Translate TubesumError into a one-line message and its exit code — the only place that does."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TubesumError as exc:
            fail(exc)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def _settings_error(exc: ValidationError) -> ConfigError:
    """Describe invalid settings without echoing their values (one of them may be a secret)."""
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()]
    return ConfigError(
        "Invalid configuration: " + "; ".join(parts),
        hint="Check TUBESUM_* environment variables and .env (see .env.example).",
    )


@click.group(cls=TubesumGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="tubesum")
@click.option("--log-level", envvar="TUBESUM_LOG_LEVEL", default=None, help="DEBUG, INFO, WARNING, ERROR.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default=None,
    help="Log rendering (default auto: console on a terminal, JSON otherwise).",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, log_format: str | None) -> None:
    """Transcribe and summarise YouTube videos and media files.

    Settings come from TUBESUM_* environment variables and a .env file; options override them.
    """
    overrides: dict[str, Any] = {k: v for k, v in {"log_level": log_level, "log_format": log_format}.items() if v}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        fail(_settings_error(exc))
    # The CLI talks through its own output; logs stay at WARNING unless asked for.
    configure_logging(level=settings.log_level if log_level else "WARNING", fmt=settings.log_format)
    ctx.obj = AppContext(settings=settings)


def _register() -> None:
    from tubesum.cli.bench import bench
    from tubesum.cli.config import config
    from tubesum.cli.db import db
    from tubesum.cli.desktop import desktop
    from tubesum.cli.doctor import doctor
    from tubesum.cli.jobs import jobs
    from tubesum.cli.keys import keys
    from tubesum.cli.models import models
    from tubesum.cli.serve import serve
    from tubesum.cli.transcribe import transcribe_command as transcribe
    from tubesum.cli.worker import worker

    cli.add_command(transcribe)
    cli.add_command(doctor)
    cli.add_command(models)
    cli.add_command(config)
    cli.add_command(serve)
    cli.add_command(db)
    cli.add_command(keys)
    cli.add_command(jobs)
    cli.add_command(worker)
    cli.add_command(bench)
    cli.add_command(desktop)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tubesum")
