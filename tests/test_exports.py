"""The public surface is explicit, and importing it stays light (no torch, no model, no yt-dlp)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import tubesum


def test_all_is_sorted_and_complete() -> None:
    imported_helpers = {"annotations", "version", "PackageNotFoundError", "TYPE_CHECKING", "Any"}
    assert tubesum.Settings.__name__ == "Settings"  # imported on first use (PEP 562), then a module attribute
    public = {
        name
        for name, value in vars(tubesum).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name not in imported_helpers
    }
    assert tubesum.__all__ == sorted(tubesum.__all__, key=lambda n: (n.startswith("_"), n.casefold()))
    assert set(tubesum.__all__) == public | {"__version__"}


def test_import_and_help_do_not_load_heavy_modules() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from tubesum.cli import cli;"
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output;"
        "heavy = [m for m in ('torch', 'transformers', 'pyannote', 'faster_whisper', 'ctranslate2', 'cairo')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
