"""``tubesum doctor``: check the installation; exit 1 when something required is missing."""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.doctor import failed, run_checks

__all__ = ["doctor"]

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def doctor(app: AppContext, as_json: bool) -> None:
    """Check Python, PyAV, CTranslate2/CUDA/cuDNN, yt-dlp, extras, HF_TOKEN (set or not), disks, models."""
    checks = run_checks(app.settings)
    bad = failed(checks)
    if as_json:
        echo_json({"ok": not bad, "checks": [c.to_dict() for c in checks]})
    else:
        table = Table("check", "status", "detail", box=None, pad_edge=False)
        for c in checks:
            # escape: hints such as pip install 'tubesum[diarize]' are not rich markup
            detail = escape(c.detail) + (f"\n[dim]→ {escape(c.hint)}[/dim]" if c.hint else "")
            table.add_row(c.name + (" *" if c.required else ""), f"[{_STYLE[c.status]}]{c.status}", detail)
        console = Console()
        console.print(table)
        console.print("* required" + (f" — {len(bad)} required check(s) failed" if bad else " — all good"))
    if bad:
        raise SystemExit(1)
