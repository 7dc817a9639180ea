"""The HTTP API (Litestar): jobs, results, events, health and metrics. ``create_app`` is the factory."""

from __future__ import annotations
