"""tubesum: YouTube and media transcripts and summaries.

``import tubesum`` stays light: no model, no torch, no yt-dlp import happens here, and ``Settings`` (pydantic)
is imported on first use (``tubesum --help`` never pays for it).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from tubesum.errors import TubesumError
from tubesum.records import MediaInfo, Segment, Source, Transcript, Word

if TYPE_CHECKING:
    from tubesum.config import Settings

try:
    __version__ = version("tubesum")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = [
    "MediaInfo",
    "Segment",
    "Settings",
    "Source",
    "Transcript",
    "TubesumError",
    "Word",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import ``Settings`` on first use (PEP 562): pydantic and pydantic-settings take a while to import."""
    if name == "Settings":
        from tubesum.config import Settings

        globals()["Settings"] = Settings
        return Settings
    raise AttributeError(f"module 'tubesum' has no attribute {name!r}")
