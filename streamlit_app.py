"""Streamlit entry point (``streamlit run streamlit_app.py``; Streamlit Cloud's default file name).

The app lives in ``tubesum.frontends.streamlit_ui``; this file only makes a source checkout importable and calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tubesum  # noqa: F401  (installed: pip install 'tubesum[ui]')
except ImportError:  # a plain checkout, e.g. on Streamlit Cloud: use the package from src/
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from tubesum.frontends.streamlit_ui import main

main()
