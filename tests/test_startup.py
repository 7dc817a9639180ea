"""``tubesum --help`` and a command's start-up import only what they use (structure, not time)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
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


#: What ``tubesum transcribe FILE`` (piped, nothing logged) must not load: the faces and stores it does not use,
#: and what only draws or formats (rich: progress bars on a terminal; structlog, pygments: the first log record).
NOT_FOR_TRANSCRIBE = (
    "rich",
    "structlog",
    "pygments",
    "litestar",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "saq",
    "tubesum.api",
    "tubesum.jobs",
    "torch",
    "transformers",
)


def _run_in_fresh_python(
    code: str, *args: str, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c CODE ARGS`` with this tree's tubesum (not another install) first on the path; an ``env``
    value of None removes that variable."""
    source = str(Path(tubesum.__file__).resolve().parents[1])
    base = {**os.environ}
    for name, value in (env or {}).items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [source, base.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=base)


def _loaded_after(args: list[str], watch: tuple[str, ...] = HEAVY, **env: str | None) -> tuple[int, list[str]]:
    """Run ``python -m tubesum ARGS`` in a fresh interpreter; return its exit code and the ``watch`` modules it
    loaded."""
    rc, loaded, _ = _run_tubesum(args, watch, **env)
    return rc, loaded


def _run_tubesum(args: list[str], watch: tuple[str, ...], **env: str | None) -> tuple[int, list[str], list[str]]:
    """Like :func:`_loaded_after`, and the lines the command wrote on stderr (its log records among them)."""
    code = (
        "import json, sys, runpy; sys.argv = ['tubesum', *json.loads(sys.argv[1])]\n"
        "try:\n    runpy.run_module('tubesum', run_name='__main__')\n"
        "except SystemExit as exc:\n    rc = exc.code or 0\nelse:\n    rc = 0\n"
        f"print(json.dumps([rc, [m for m in {watch!r} if m in sys.modules]]), file=sys.stderr)"
    )
    *lines, last = _run_in_fresh_python(code, json.dumps(args), env=env).stderr.strip().splitlines()
    rc, loaded = json.loads(last)
    return rc, loaded, lines


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


def test_transcribe_run_loads_no_face_store_renderer_or_progress_ui(tmp_path: Path) -> None:
    """A real piped ``tubesum transcribe`` (tiny.en on the bundled sample) writes its transcript without loading
    rich (no terminal to draw on), structlog (nothing logged) or any API/job-store module."""
    out = tmp_path / "out"
    rc, loaded, stderr = _run_tubesum(
        ["transcribe", "--sample", "-f", "txt", "-o", str(out)],
        (*NOT_FOR_TRANSCRIBE, "faster_whisper"),
        TTY_COMPATIBLE=None,
        FORCE_COLOR=None,
    )
    assert rc == 0
    logged = [line for line in stderr if line.startswith('{"')]  # JSON log records (stderr is not a TTY)
    if logged:  # a warning on this machine (e.g. a compute type fallback) rightly loads structlog to render it
        loaded = [name for name in loaded if name not in ("structlog", "rich", "pygments")]  # and what it imports
    assert loaded == ["faster_whisper"], (loaded, logged)  # it did transcribe, and loaded nothing it must not
    (transcript,) = out.glob("*.txt")
    assert "sample" in transcript.read_text().lower()


def test_structlog_is_imported_by_the_first_log_record_and_renders_it() -> None:
    code = (
        "import json, logging, sys\n"
        "from tubesum.logs import configure_logging\n"
        "configure_logging(level='INFO', fmt='json', stream=sys.stdout)\n"
        "before = 'structlog' in sys.modules\n"
        "logging.getLogger('tubesum.t').warning('key sk-ABCDEFGHIJKL', extra={'api_key': 'x', 'n': 3})\n"
        "print(json.dumps([before, 'structlog' in sys.modules]), file=sys.stderr)\n"
        "import structlog; structlog.get_logger('tubesum.s').info('native', hf_token='hf_abcdefghijk')\n"
    )
    done = _run_in_fresh_python(code)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [False, True]
    first, native = (json.loads(line) for line in done.stdout.splitlines())
    assert first["event"] == "key ***" and first["api_key"] == "***" and first["n"] == 3
    assert first["level"] == "warning" and "timestamp" in first
    # structlog's own loggers were configured by the same first record: JSON, masked
    assert native["event"] == "native" and native["hf_token"] == "***" and native["logger"] == "tubesum.s"


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"TTY_COMPATIBLE": "1"}, False, True),
        ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, True, False),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": ""}, True, False),
    ],
)
def test_progress_imports_rich_only_where_rich_would_find_a_terminal(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tty: bool, expected: bool
) -> None:
    from rich.console import Console

    from tubesum.cli.progress import may_be_terminal

    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "JUPYTER_COLUMNS", "JUPYTER_LINES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stream = io.StringIO()
    monkeypatch.setattr(stream, "isatty", lambda: tty)
    assert may_be_terminal(stream) is expected
    assert Console(file=stream).is_terminal is expected  # the rule rich applies after the import
