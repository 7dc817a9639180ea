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

__all__ = [
    "disk_full",
    "ensure_writable_dir",
    "is_disk_full",
    "job_workdir",
    "pid_namespace",
    "safe_stem",
    "workdir_prefix",
    "write_atomic",
]

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w\-. ]+", re.UNICODE)
_SPACES = re.compile(r"[\s_]+")
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})  # EFBIG: a file-size limit (ulimit -f, quota)
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


def is_disk_full(exc: BaseException) -> bool:
    """Return True when ``exc`` (or an exception it was raised from) is an ``OSError`` for a full disk,
    an exceeded quota or a file-size limit.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full(path: Path | str, *, setting: str) -> DiskFullError:
    """Return the ``disk_full`` error (HTTP 507) for ``path``; ``setting`` names the variable that moves it."""
    return DiskFullError(
        f"No space left on the device holding {path}.", hint=f"Free some disk space or point {setting} elsewhere."
    )


def _output_error(exc: OSError, path: Path) -> OutputError:
    if is_disk_full(exc):
        return disk_full(path, setting="TUBESUM_OUTPUT_DIR")
    return OutputDirError(
        f"Cannot write to {path}: {exc.strerror or exc}.",
        hint="Choose a writable directory with --output-dir or TUBESUM_OUTPUT_DIR.",
    )


def pid_namespace() -> int | None:
    """Return this process's PID namespace id (the inode of ``/proc/self/ns/pid``); None without /proc."""
    try:
        return Path("/proc/self/ns/pid").stat().st_ino
    except OSError:
        return None


def workdir_prefix() -> str:
    """Return ``tubesum-<pid>-n<pid namespace>-``: a sweep can tell whether the pid is one it can check."""
    namespace = pid_namespace()
    return f"tubesum-{os.getpid()}-n{namespace}-" if namespace is not None else f"tubesum-{os.getpid()}-"


@contextlib.contextmanager
def job_workdir(parent: Path | None) -> Iterator[Path]:
    """Yield a fresh temporary directory for one job; it is removed on success, error and Ctrl-C.

    Named ``tubesum-<pid>-n<pid namespace>-*`` (:func:`workdir_prefix`), so that the work dirs of a killed
    process can be swept later, even in the shared system temp dir (see
    :func:`tubesum.jobs.executor.sweep_workdirs`).
    """
    if parent is not None:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _output_error(exc, parent) from None
    try:
        path = Path(tempfile.mkdtemp(prefix=workdir_prefix(), dir=parent))
    except OSError as exc:
        raise _output_error(exc, parent or Path(tempfile.gettempdir())) from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        logger.debug("removed work dir", extra={"path": str(path)})
