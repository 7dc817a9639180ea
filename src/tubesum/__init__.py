"""tubesum: YouTube and media transcripts and summaries.

``import tubesum`` stays light: no model, no torch, no yt-dlp import happens here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from tubesum.config import Settings
from tubesum.errors import TubesumError
from tubesum.records import MediaInfo, Segment, Source, Transcript, Word

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
