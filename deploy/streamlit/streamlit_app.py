"""Streamlit Community Cloud entry point: pick this file as the app's main file.

Cloud installs the dependency file next to the entry point first, so ``requirements.txt`` here (CPU only, no torch,
pinned from uv.lock) wins over the repository's own ``uv.lock``. The app itself is ``tubesum.frontends.streamlit_ui``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # the package, straight from the checkout

from tubesum.frontends.streamlit_ui import main

main()
