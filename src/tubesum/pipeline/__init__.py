"""Pipeline stages: ingest, fetch, captions, decode, transcribe.

They know nothing of HTTP, queues or click.
"""

from __future__ import annotations
