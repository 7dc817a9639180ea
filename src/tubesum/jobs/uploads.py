"""Uploaded media: stored under ``<data_dir>/uploads/<id>/``, named in jobs as ``upload:<id>``, read only there.

A remote caller never names a server path. It streams a file to the server (:func:`save_upload`), gets back an
opaque reference ``upload:up_<32 hex>`` and submits that as a job's source. :func:`resolve_upload` turns the
reference into a local-file :class:`~tubesum.records.Source` only for the owner who uploaded it, and only for a
file that resolves inside the upload directory::

    record = await save_upload(request.stream(), owner="key1", filename="talk.mp3", content_type="audio/mpeg",
                               settings=settings)
    source = resolve_upload(record.ref, owner="key1", settings=settings)   # Source(kind="file", path=...)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
import unicodedata
import uuid
from collections.abc import AsyncIterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from tubesum.errors import (
    EmptyAudioError,
    SizeLimitError,
    SourceError,
    UnsupportedMediaError,
    UploadQuotaError,
    UploadsDisabledError,
    UploadTimeoutError,
)
from tubesum.files import disk_full, is_disk_full
from tubesum.pipeline.upload_ref import (
    META,
    UPLOAD_ID,
    UPLOAD_PREFIX,
    UploadRecord,
    check_upload_enabled,
    is_upload,
    resolve_upload,
)

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = [
    "UPLOAD_PREFIX",
    "UploadQuotaError",
    "UploadRecord",
    "UploadTimeoutError",
    "UploadsDisabledError",
    "check_upload",
    "check_upload_enabled",
    "check_upload_size",
    "delete_upload",
    "is_upload",
    "purge_uploads_before",
    "resolve_upload",
    "save_upload",
    "stored_bytes",
]

logger = logging.getLogger(__name__)

_ID = UPLOAD_ID
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_META = META
_MAX_NAME_BYTES = 200
_GENERIC_TYPES = {"", "application/octet-stream"}


def check_upload_size(declared_size: int | None, *, settings: Settings) -> None:
    """Refuse an upload before reading it when uploads are off or its declared size is over the limit."""
    check_upload_enabled(settings)
    if declared_size is not None and declared_size > settings.upload_max_mb * 1024 * 1024:
        raise _too_large(settings)


def check_upload(filename: str, content_type: str, *, settings: Settings, declared_size: int | None = None) -> str:
    """Refuse an upload before reading it: disabled, too large, wrong extension or type. Return the safe name."""
    check_upload_size(declared_size, settings=settings)
    name = _safe_name(filename)
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    allowed = tuple(e.lstrip(".") for e in settings.upload_extensions)
    if ext not in allowed:
        raise UnsupportedMediaError(
            f"Files of type '.{ext[:16]}' are not accepted." if ext else "The file name has no extension.",
            hint=f"Upload one of: {', '.join(allowed)}.",
        )
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _GENERIC_TYPES and not media_type.startswith(("audio/", "video/")):
        raise UnsupportedMediaError(
            f"Content type '{media_type[:60]}' is not audio or video.", hint="Upload an audio or video file."
        )
    return name


async def save_upload(
    chunks: AsyncIterable[bytes], *, owner: str, filename: str, content_type: str, settings: Settings
) -> UploadRecord:
    """Check the upload, stream it to disk within ``upload_max_mb`` and return its record.

    Raises :class:`UploadsDisabledError`, :class:`~tubesum.errors.UnsupportedMediaError` (415),
    :class:`~tubesum.errors.SizeLimitError` (413, nothing is kept), :class:`~tubesum.errors.EmptyAudioError`
    and :class:`~tubesum.errors.DiskFullError` (507, nothing is kept).
    """
    name = check_upload(filename, content_type, settings=settings)
    limit = settings.upload_max_mb * 1024 * 1024
    quota_left: int | None = None
    if settings.upload_quota_mb:
        quota_left = settings.upload_quota_mb * 1024 * 1024 - stored_bytes(owner, settings)
        if quota_left <= 0:
            raise _over_quota(settings)
    upload_id = f"up_{uuid.uuid4().hex}"
    folder = settings.upload_dir / upload_id
    try:
        await _store_upload(chunks, folder=folder, name=name, limit=limit, quota_left=quota_left, settings=settings)
    except OSError as exc:
        if is_disk_full(exc):
            logger.warning("upload refused: disk full", extra={"path": str(settings.upload_dir)})
            raise disk_full(settings.upload_dir, setting="TUBESUM_DATA_DIR") from None
        raise
    size = (folder / name).stat().st_size
    media_type = content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
    record = UploadRecord(
        id=upload_id, owner=owner, filename=name, content_type=media_type, size=size, created_at=time.time()
    )
    try:
        (folder / _META).write_text(json.dumps(asdict(record)), encoding="utf-8")
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if is_disk_full(exc):
            raise disk_full(settings.upload_dir, setting="TUBESUM_DATA_DIR") from None
        raise
    logger.info("upload stored", extra={"upload_id": upload_id, "bytes": size})
    return record


async def _store_upload(
    chunks: AsyncIterable[bytes],
    *,
    folder: Path,
    name: str,
    limit: int,
    quota_left: int | None,
    settings: Settings,
) -> None:
    """Stream the body into ``folder/name`` within ``limit`` (and the owner's ``quota_left``) bytes; on any error
    nothing is left behind."""
    folder.mkdir(parents=True, exist_ok=False)
    size = 0
    try:
        with (folder / name).open("xb") as handle:
            iterator = aiter(chunks)
            while True:
                try:  # a body that stalls is dropped: it would hold a connection and a file open for ever
                    chunk = await asyncio.wait_for(anext(iterator), timeout=settings.upload_idle_timeout)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise UploadTimeoutError(
                        f"The upload sent nothing for {settings.upload_idle_timeout:g} s and was dropped."
                    ) from None
                size += len(chunk)
                if size > limit:
                    raise _too_large(settings)
                if quota_left is not None and size > quota_left:
                    raise _over_quota(settings)
                handle.write(chunk)
        if size == 0:
            raise EmptyAudioError("The uploaded file is empty.")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def stored_bytes(owner: str, settings: Settings) -> int:
    """Return the bytes of ``owner``'s stored uploads (one ``meta.json`` read per upload on disk)."""
    root = settings.upload_dir
    if not root.is_dir():
        return 0
    total = 0
    for folder in root.iterdir():
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("owner") == owner:
            total += int(meta.get("size") or 0)
    return total


def delete_upload(ref: str, *, owner: str, settings: Settings) -> bool:
    """Delete the caller's upload ``ref``; return whether there was one (another owner's is never touched)."""
    try:
        _, record = resolve_upload(ref, owner=owner, settings=settings)
    except SourceError:
        return False
    shutil.rmtree(settings.upload_dir.resolve() / record.id, ignore_errors=True)
    logger.info("upload deleted", extra={"upload_id": record.id})
    return True


def purge_uploads_before(settings: Settings, cutoff: float) -> int:
    """Delete uploads stored before ``cutoff`` (a UNIX time); return how many went."""
    root = settings.upload_dir
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.iterdir():
        if _ID.fullmatch(folder.name) and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _over_quota(settings: Settings) -> UploadQuotaError:
    return UploadQuotaError(
        f"Your stored uploads would exceed {settings.upload_quota_mb} MB.",
        hint="Delete finished jobs of earlier uploads (their files go with them), then upload again.",
    )


def _too_large(settings: Settings) -> SizeLimitError:
    return SizeLimitError(f"The upload is larger than {settings.upload_max_mb} MB.", hint="Upload a smaller file.")


def _safe_name(filename: str) -> str:
    """Keep the user's file name (it becomes the title) minus path parts, control characters and leading dots.

    The result is valid UTF-8 and at most ``_MAX_NAME_BYTES`` long (file systems allow 255 bytes), extension kept.
    """
    text = filename.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot name a file
    # Bidi overrides (U+202E) and zero-width characters disguise a name (the title, Content-Disposition); job
    # sources refuse them (ingest), upload names lose them: both paths keep them out.
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    base = Path(text.replace("\\", "/")).name
    name = _UNSAFE_NAME.sub("_", base).strip().lstrip(".") or "upload"
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    while stem and len(f"{stem}{suffix}".encode()) > _MAX_NAME_BYTES:
        stem = stem[:-1]
    name = f"{stem or 'upload'}{suffix}"
    return f"media-{name}" if name == _META else name
