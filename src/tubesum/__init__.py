"""tubesum: YouTube and media transcripts and summaries."""

from __future__ import annotations
