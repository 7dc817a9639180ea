"""``python -m tubesum.desktop`` (the PyInstaller build's entry script too)."""

from __future__ import annotations

import sys

from tubesum.desktop.app import main

sys.exit(main())
