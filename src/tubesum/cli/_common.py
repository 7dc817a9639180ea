"""Shared CLI pieces: the context object, error output, JSON output, option bundles."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from tubesum.config import Settings
from tubesum.errors import TubesumError

__all__ = ["AppContext", "echo_json", "error_line", "fail", "pass_app"]


@dataclass
class AppContext:
    settings: Settings


pass_app = click.make_pass_decorator(AppContext)


def error_line(exc: TubesumError) -> str:
    line = f"Error [{exc.code}]: {exc.message}"
    return f"{line}\n  {exc.hint}" if exc.hint else line


def fail(exc: TubesumError) -> NoReturn:
    """Print the error (one line plus hint) to stderr and exit with its code."""
    click.echo(error_line(exc), err=True)
    sys.exit(exc.exit_code)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
