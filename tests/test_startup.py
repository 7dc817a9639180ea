"""``tubesum --help`` and a command's start-up import only what they use (structure, not time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

import tubesum
from tubesum.cli import COMMANDS, cli

HEAVY = (
    "yt_dlp",
    "faster_whisper",
    "ctranslate2",
    "av",
    "numpy",
    "litestar",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "httpx",
    "rich",
    "structlog",
    "pydantic",
    "pydantic_settings",
    "torch",
    "transformers",
)


def _loaded_after(args: list[str]) -> tuple[int, list[str]]:
    """Run ``python -m tubesum ARGS`` in a fresh interpreter; return its exit code and the heavy modules it loaded."""
    code = (
        "import json, sys, runpy; sys.argv = ['tubesum', *json.loads(sys.argv[1])]\n"
        "try:\n    runpy.run_module('tubesum', run_name='__main__')\n"
        "except SystemExit as exc:\n    rc = exc.code or 0\nelse:\n    rc = 0\n"
        f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]), file=sys.stderr)"
    )
    source = str(Path(tubesum.__file__).resolve().parents[1])  # this tree's tubesum, not another install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, check=True, env=env
    )
    rc, loaded = json.loads(out.stderr.strip().splitlines()[-1])
    return rc, loaded


def test_help_imports_no_heavy_module() -> None:
    rc, loaded = _loaded_after(["--help"])
    assert rc == 0 and loaded == []


def test_a_command_help_imports_only_its_own_needs() -> None:
    rc, loaded = _loaded_after(["transcribe", "--help"])
    assert rc == 0
    assert not {"yt_dlp", "faster_whisper", "ctranslate2", "litestar", "sqlalchemy", "torch"} & set(loaded), loaded


def test_the_command_list_matches_the_commands_themselves() -> None:
    listed = CliRunner().invoke(cli, ["--help"], catch_exceptions=False).output
    for name, (_module, _attr, short) in COMMANDS.items():
        command = cli.commands[name]
        assert isinstance(command, click.Command) and command.name == name
        assert command.get_short_help_str(limit=10**6) == short, f"COMMANDS[{name!r}] drifted from its docstring"
        assert f"  {name} " in listed
