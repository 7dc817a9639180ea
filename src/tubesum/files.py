"""Files on disk: per-job temporary directories, safe output names, atomic writes."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from tubesum.errors import DiskFullError, OutputDirError, OutputError

__all__ = ["ensure_writable_dir", "job_workdir", "safe_stem", "write_atomic"]

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w\-. ]+", re.UNICODE)
_SPACES = re.compile(r"[\s_]+")
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


def safe_stem(
    title: str | None, *, video_id: str | None = None, fallback: str = "transcript", max_length: int = 80
) -> str:
    """Return a file name stem from an untrusted title: no separators, no dots at the ends, bounded length.

    ``safe_stem("../../etc/passwd", video_id="abc")`` → ``"etc-passwd-abc"``.
    """
    text = unicodedata.normalize("NFKC", title or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")  # control/format chars
    text = _UNSAFE.sub("-", text.replace("/", "-").replace("\\", "-"))
    text = _SPACES.sub("-", text).strip("-. ")
    text = re.sub(r"-{2,}", "-", text)
    text = text[:max_length].rstrip("-. ")
    if not text or text.lower() in _RESERVED:
        text = fallback
    if video_id:
        clean_id = re.sub(r"[^A-Za-z0-9_-]", "", video_id)
        if clean_id and not text.endswith(clean_id):
            text = f"{text}-{clean_id}" if text != fallback else clean_id
    return text


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove it is writable, before any long work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".tubesum-probe-"):
            pass
    except OSError as exc:
        raise _output_error(exc, path) from None
    return path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _output_error(exc, path) from None
    return path


def _output_error(exc: OSError, path: Path) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"No space left on the device holding {path}.",
            hint="Free some disk space or point TUBESUM_OUTPUT_DIR elsewhere.",
        )
    return OutputDirError(
        f"Cannot write to {path}: {exc.strerror or exc}.",
        hint="Choose a writable directory with --output-dir or TUBESUM_OUTPUT_DIR.",
    )


@contextlib.contextmanager
def job_workdir(parent: Path | None) -> Iterator[Path]:
    """Yield a fresh temporary directory for one job; it is removed on success, error and Ctrl-C."""
    if parent is not None:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _output_error(exc, parent) from None
    try:
        path = Path(tempfile.mkdtemp(prefix=f"tubesum-{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise _output_error(exc, parent or Path(tempfile.gettempdir())) from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        logger.debug("removed work dir", extra={"path": str(path)})
