"""The ``tubesum`` command line: one click group, one module per command group.

Exit codes (stable, for scripts and CI):
  0 success · 1 unexpected error · 2 usage or configuration error · 3 bad source (URL, file, limits) ·
  4 download/captions failed · 5 transcription/model failed · 6 writing outputs failed ·
  7 optional extra missing · 130 interrupted (Ctrl-C)

Start-up stays light: a command's module is imported only when that command runs (or its help is asked
for), and the settings, logging and everything heavy (yt-dlp, faster-whisper, Litestar, SQLAlchemy, rich)
load inside the commands. ``tubesum --help`` lists the commands from :data:`COMMANDS` without importing them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

import click

from tubesum import __version__

if TYPE_CHECKING:
    from pydantic import ValidationError

    from tubesum.errors import ConfigError

__all__ = ["COMMANDS", "cli", "main"]

#: Every command: its module, the click object's name there, and its one-line help (tests keep them equal).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "transcribe": (
        "tubesum.cli.transcribe",
        "transcribe_command",
        "Transcribe YouTube URLs or media files and write txt, srt, vtt, json, md or pdf.",
    ),
    "doctor": (
        "tubesum.cli.doctor",
        "doctor",
        "Check Python, PyAV, CTranslate2/CUDA/cuDNN, yt-dlp, extras, HF_TOKEN (set or not), disks, models.",
    ),
    "models": (
        "tubesum.cli.models",
        "models",
        "Manage Whisper models in the model cache (TUBESUM_MODEL_CACHE_DIR).",
    ),
    "config": ("tubesum.cli.config", "config", "Inspect configuration."),
    "serve": (
        "tubesum.cli.serve",
        "serve",
        "Serve the HTTP API with the job queue (OpenAPI at /schema, metrics at /metrics).",
    ),
    "db": (
        "tubesum.cli.db",
        "db",
        "Manage the job store database (TUBESUM_DATABASE_URL; default: SQLite in TUBESUM_DATA_DIR).",
    ),
    "keys": (
        "tubesum.cli.keys",
        "keys",
        "Manage API keys for the HTTP API (sent as 'Authorization: Bearer tsk_...').",
    ),
    "jobs": ("tubesum.cli.jobs", "jobs", "Inspect and cancel jobs of the HTTP API's queue (all owners)."),
    "worker": (
        "tubesum.cli.worker",
        "worker",
        "Run jobs from the SAQ queue (TUBESUM_QUEUE=saq; PostgreSQL job store, PostgreSQL or Redis queue).",
    ),
    "bench": (
        "tubesum.cli.bench",
        "bench",
        "Measure tubesum against bare faster-whisper and peer servers on the same audio and model.",
    ),
    "desktop": (
        "tubesum.cli.desktop",
        "desktop",
        "Open the desktop app; `--self-test OUTDIR` transcribes the bundled sample headlessly (see --help).",
    ),
}


class LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands: each imported on first access, so listing names imports nothing."""

    def __init__(self, specs: dict[str, tuple[str, str, str]]) -> None:
        self._specs = dict(specs)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            if name not in self._specs:
                raise KeyError(name)
            module, attr, _ = self._specs[name]
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        found = self._loaded.pop(name, None) is not None
        if self._specs.pop(name, None) is None and not found:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self._specs
        yield from (name for name in self._loaded if name not in self._specs)

    def __len__(self) -> int:
        return len(self._specs.keys() | self._loaded.keys())

    def short_help(self, name: str) -> str | None:
        """The one-line help of a command not imported yet (None once it is: ask the command itself)."""
        return None if name in self._loaded or name not in self._specs else self._specs[name][2]


class TubesumGroup(click.Group):
    """Translate TubesumError into a one-line message and its exit code — the only place that does."""

    def invoke(self, ctx: click.Context) -> Any:
        from tubesum.errors import TubesumError

        try:
            return super().invoke(ctx)
        except TubesumError as exc:
            from tubesum.cli._common import fail

            fail(exc)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their one-line help, importing none that is not loaded yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            lazy = self.commands.short_help(name) if isinstance(self.commands, LazyCommands) else None
            if lazy is not None:
                rows.append((name, click.Command(name, help=lazy).get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _settings_error(exc: ValidationError) -> ConfigError:
    """Describe invalid settings without echoing their values (one of them may be a secret)."""
    from tubesum.errors import ConfigError

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
    from pydantic import ValidationError

    from tubesum.cli._common import AppContext, fail
    from tubesum.config import Settings
    from tubesum.logs import configure_logging

    overrides: dict[str, Any] = {k: v for k, v in {"log_level": log_level, "log_format": log_format}.items() if v}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        fail(_settings_error(exc))
    # The CLI talks through its own output; logs stay at WARNING unless asked for.
    configure_logging(level=settings.log_level if log_level else "WARNING", fmt=settings.log_format)
    ctx.obj = AppContext(settings=settings)


cli.commands = LazyCommands(COMMANDS)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tubesum")
