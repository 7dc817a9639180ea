"""``tubesum desktop``: open the desktop app (the ``desktop`` extra); same as ``tubesum-desktop``."""

from __future__ import annotations

import sys

import click

__all__ = ["desktop"]


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def desktop(args: tuple[str, ...]) -> None:
    """Open the desktop app; `--self-test OUTDIR` transcribes the bundled sample headlessly (see --help)."""
    from tubesum.desktop.app import main

    sys.exit(main(list(args)))
