"""Front ends for people on top of the service layer: the Streamlit app and what it shares with the desktop app."""

from __future__ import annotations
