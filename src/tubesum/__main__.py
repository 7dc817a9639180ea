"""``python -m tubesum`` runs the CLI."""

from __future__ import annotations

from tubesum.cli import main

main()
