"""Upload references: ``upload:<id>`` names a file stored under ``<data_dir>/uploads/<id>/`` for one owner.

The ingest side of uploads: turning a reference into a local-file :class:`~tubesum.records.Source`, only for
the owner who uploaded it and only for a file that resolves inside the upload directory. Storing, sizing and
purging uploads is the jobs layer's business (:mod:`tubesum.jobs.uploads`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tubesum.errors import SourceNotFoundError, UploadsDisabledError
from tubesum.records import Source

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = ["META", "UPLOAD_ID", "UPLOAD_PREFIX", "UploadRecord", "check_upload_enabled", "is_upload", "resolve_upload"]

UPLOAD_PREFIX = "upload:"
UPLOAD_ID = re.compile(r"^up_[0-9a-f]{32}$")
META = "meta.json"


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """One stored upload; ``ref`` is what a job names as its source."""

    id: str
    owner: str
    filename: str
    content_type: str
    size: int
    created_at: float

    @property
    def ref(self) -> str:
        return f"{UPLOAD_PREFIX}{self.id}"


def is_upload(text: str) -> bool:
    """Return True when a job source names an upload (``upload:<id>``) rather than a URL."""
    return text.strip().startswith(UPLOAD_PREFIX)


def check_upload_enabled(settings: Settings) -> None:
    """Raise :class:`UploadsDisabledError` unless the server accepts uploads."""
    if not settings.uploads_enabled:
        raise UploadsDisabledError(
            "This server does not accept uploads.", hint="Submit a URL, or ask the operator to enable uploads."
        )


def resolve_upload(ref: str, *, owner: str, settings: Settings) -> tuple[Source, UploadRecord]:
    """Return the local-file source of the caller's own upload; anything else is "not found" (no existence leak)."""
    upload_id = ref.strip().removeprefix(UPLOAD_PREFIX)
    missing = SourceNotFoundError(f"No upload {upload_id[:40]!r}.", hint="Upload the file again.")
    if not UPLOAD_ID.fullmatch(upload_id):
        raise missing
    root = settings.upload_dir.resolve()
    folder = root / upload_id
    try:
        record = UploadRecord(**json.loads((folder / META).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        raise missing from None
    path = (folder / record.filename).resolve()
    if record.owner != owner or not path.is_relative_to(folder) or not path.is_file():
        raise missing
    return Source(kind="file", original=record.ref, path=path), record
