"""Models for the apps: is one on this machine already, and if not, download it once with progress.

``tiny.en`` from the ``sample`` extra counts as local. A download goes through
:func:`tubesum.service.pull_model` (the same as ``tubesum models pull``) in a helper thread while the
caller is told how many MB have arrived, so a progress bar can follow the first run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tubesum.errors import ModelNotFoundError

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = ["APPROX_MODEL_MB", "download_progress", "ensure_model", "model_is_local"]

logger = logging.getLogger(__name__)

#: Download sizes of the CTranslate2 models (MB, rounded up) for the first-run progress bar.
APPROX_MODEL_MB: dict[str, int] = {
    "tiny": 76,
    "tiny.en": 76,
    "base": 146,
    "base.en": 146,
    "small": 486,
    "small.en": 486,
    "medium": 1530,
    "medium.en": 1530,
    "large-v3": 3100,
    "large-v3-turbo": 1620,
}
_POLL_SECONDS = 0.5


def model_is_local(name: str, *, settings: Settings) -> bool:
    """Return whether ``name`` loads without a download (model cache, local path, or bundled like tiny.en)."""
    from tubesum.service import resolve_model

    try:
        resolve_model(name, settings=settings)
    except ModelNotFoundError:
        return False
    return True


def ensure_model(name: str, *, settings: Settings, report: Callable[[float, float | None], None]) -> None:
    """Download ``name`` into the model cache unless it is already on this machine; ``report(mb, total_mb)``."""
    from tubesum.service import known_model_names, pull_model

    if model_is_local(name, settings=settings) or name not in known_model_names():
        return  # unknown names and bad paths fail later with the resolver's own message
    outcome: list[BaseException] = []

    def pull() -> None:
        try:
            pull_model(name, settings=settings)
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append(exc)

    logger.info("downloading model", extra={"model": name})
    thread = threading.Thread(target=pull, name=f"pull-{name}", daemon=True)
    before = _size_mb(settings.model_cache_dir)
    thread.start()
    while thread.is_alive():
        report(_size_mb(settings.model_cache_dir) - before, APPROX_MODEL_MB.get(name))
        thread.join(_POLL_SECONDS)
    if outcome:
        raise outcome[0]


def _size_mb(root: Path) -> float:
    if not root.is_dir():
        return 0.0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def download_progress(mb: float, total_mb: float | None) -> tuple[str, float]:
    """Return the progress text and bar fraction (0..0.99) for ``mb`` of about ``total_mb`` downloaded."""
    of = f" of ~{total_mb:.0f}" if total_mb else ""
    return f"Downloading the model (first run): {mb:.0f}{of} MB", (min(0.99, mb / total_mb) if total_mb else 0.0)
