"""Find the pyannote pipeline to load, and say clearly why it cannot be had. No torch, no pyannote imports.

``settings.diarization_model`` is a local directory holding ``config.yaml`` (or the ``config.yaml`` itself), or
a Hugging Face Hub id. A hub id is looked up in ``settings.model_cache_dir`` and then in the default Hugging
Face cache; a cached copy is loaded from its snapshot directory, so no request goes to the hub. An uncached
one is downloaded into ``settings.model_cache_dir`` with the token. Failures keep stable codes:

* hub id, not cached, no token (``HF_TOKEN`` or ``hf auth login``) → TokenMissingError — also offline: the
  token is what the user needs first;
* hub id, not cached, token set, offline (``HF_HUB_OFFLINE=1``, or the hub unreachable) → ModelNotFoundError;
* gated repo whose conditions were not accepted (GatedRepoError, HTTP 403) → GatedModelError naming the page;
* token rejected (HTTP 401) → TokenMissingError.

The token is never logged and never part of a message or an error's details.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from tubesum.errors import (
    ConfigError,
    GatedModelError,
    MissingExtraError,
    ModelNotFoundError,
    TokenMissingError,
    TubesumError,
)

if TYPE_CHECKING:
    from tubesum.config import Settings

__all__ = [
    "DiarizeCheck",
    "ResolvedPipeline",
    "check_available",
    "doctor_checks",
    "download_hint",
    "hub_error",
    "hub_token",
    "resolve_pipeline",
]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HUB_URL = re.compile(r"huggingface\.co/(?:api/models/)?([A-Za-z0-9][\w.-]*/[\w.-]+?)/(?:resolve|revision|tree)/")
_TOKENS_PAGE = "https://hf.co/settings/tokens"
MISSING_EXTRA = ("speaker diarization", "diarize")


@dataclass(frozen=True, slots=True)
class ResolvedPipeline:
    """What ``Pipeline.from_pretrained`` gets: a local directory or config file, or a hub id to download."""

    name: str
    checkpoint: str
    origin: Literal["path", "cache", "hub"]


Status = Literal["ok", "warn", "fail"]


class DiarizeCheck(NamedTuple):
    """One line of ``tubesum doctor``: name, status (ok, warn, fail), what was found, what to do."""

    name: str
    status: Status
    detail: str
    hint: str | None = None


def hub_token(settings: Settings) -> tuple[str | None, str | None]:
    """Return the Hugging Face token and where it came from (settings/HF_TOKEN, else ``hf auth login``)."""
    if settings.hf_token is not None and settings.hf_token.get_secret_value().strip():
        return settings.hf_token.get_secret_value().strip(), "HF_TOKEN"
    import huggingface_hub

    stored = huggingface_hub.get_token()
    return (stored, "hf auth login") if stored else (None, None)


def _offline() -> bool:
    import huggingface_hub

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return flag in {"1", "ON", "YES", "TRUE"} or bool(huggingface_hub.constants.HF_HUB_OFFLINE)


def _cache_dirs(settings: Settings) -> list[Path]:
    import huggingface_hub

    return list(dict.fromkeys([settings.model_cache_dir, Path(huggingface_hub.constants.HF_HUB_CACHE)]))


def _cached_snapshot(repo_id: str, settings: Settings) -> Path | None:
    """Return the cached snapshot directory of ``repo_id`` holding ``config.yaml``, if any cache has one."""
    import huggingface_hub

    for cache_dir in _cache_dirs(settings):
        found = huggingface_hub.try_to_load_from_cache(repo_id, "config.yaml", cache_dir=cache_dir)
        if isinstance(found, str):
            return Path(found).parent
    return None


def download_hint(name: str, settings: Settings) -> str:
    """Say how to get ``name`` into the model cache (no token value, ever)."""
    return (
        f"Download it once, online, with HF_TOKEN set: run tubesum with diarization, or "
        f"`hf download {name} --cache-dir {settings.model_cache_dir}`."
    )


def resolve_pipeline(settings: Settings) -> ResolvedPipeline:
    """Find the pipeline without loading it; raise the error the user can act on when it cannot be had."""
    name = settings.diarization_model.strip()
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        config = path / "config.yaml" if path.is_dir() else path
        if not config.is_file():
            raise ModelNotFoundError(
                f"{path} is not a pyannote pipeline (no config.yaml).",
                hint="Point TUBESUM_DIARIZATION_MODEL at a directory with config.yaml, or at a hub id.",
                model=name,
            )
        return ResolvedPipeline(name=name, checkpoint=str(path.resolve()), origin="path")
    if not _REPO_ID.match(name):
        raise ConfigError(
            f"{name!r} is neither a local pyannote pipeline nor a Hugging Face model id.",
            hint="Use e.g. pyannote/speaker-diarization-community-1 or a directory with config.yaml.",
        )
    snapshot = _cached_snapshot(name, settings)
    if snapshot is not None:
        return ResolvedPipeline(name=name, checkpoint=str(snapshot), origin="cache")
    if hub_token(settings)[0] is None:
        raise TokenMissingError(
            f"Diarization model {name} is not downloaded yet, and downloading it needs a Hugging Face token: "
            "set HF_TOKEN.",
            hint=f"Create a token at {_TOKENS_PAGE}, accept the conditions at https://hf.co/{name}, "
            "then set HF_TOKEN (or TUBESUM_HF_TOKEN).",
            model=name,
        )
    if _offline():
        raise ModelNotFoundError(
            f"Diarization model {name} is not in the model cache, and the Hugging Face Hub is offline "
            "(HF_HUB_OFFLINE).",
            hint=download_hint(name, settings),
            model=name,
            cache_dir=str(settings.model_cache_dir),
        )
    return ResolvedPipeline(name=name, checkpoint=name, origin="hub")


def check_available(settings: Settings) -> ResolvedPipeline:
    """Fail fast, without importing torch, when diarization cannot run: extra missing, no token, offline."""
    if importlib.util.find_spec("pyannote") is None or importlib.util.find_spec("pyannote.audio") is None:
        raise MissingExtraError(*MISSING_EXTRA, package="pyannote.audio")
    return resolve_pipeline(settings)


def hub_error(exc: Exception, name: str, settings: Settings) -> TubesumError:
    """Translate a huggingface_hub error; only the exception's type, status and repo id go into the message."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError

    match = _HUB_URL.search(str(exc))
    repo = getattr(exc, "repo_id", None) or (match.group(1) if match else name)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, GatedRepoError) or status == 403:
        return GatedModelError(
            f"{repo} is a gated model and this Hugging Face account has not accepted its conditions.",
            hint=f"Visit https://hf.co/{repo} while logged in, accept the user conditions, then retry.",
            model=repo,
            url=f"https://hf.co/{repo}",
        )
    if status == 401:
        return TokenMissingError(
            "The Hugging Face Hub rejected the token (HTTP 401): set HF_TOKEN to a valid token.",
            hint=f"Create a token at {_TOKENS_PAGE}.",
            model=repo,
        )
    if isinstance(exc, LocalEntryNotFoundError) or not isinstance(exc, HfHubHTTPError):
        return ModelNotFoundError(
            f"Diarization model {repo} could not be downloaded and is not cached ({type(exc).__name__}).",
            hint=download_hint(name, settings),
            model=repo,
        )
    return ModelNotFoundError(
        f"Could not download diarization model {repo} ({type(exc).__name__}, HTTP {status}).",
        hint=f"Check the model id and that your token can read https://hf.co/{repo}.",
        model=repo,
    )


def doctor_checks(settings: Settings) -> list[DiarizeCheck]:
    """Return what ``tubesum doctor`` shows about diarization; never imports torch, never shows the token."""
    checks: list[DiarizeCheck] = []
    wanted: Status = "fail" if settings.diarize else "warn"  # a problem only matters when diarization is on
    try:
        version = importlib.metadata.version("pyannote.audio")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version is None:
        checks.append(
            DiarizeCheck(
                "diarize_extra",
                wanted,
                "pyannote.audio not installed",
                "pip install 'tubesum[diarize]' (CPU: scripts/install-ml diarize)",
            )
        )
    else:
        try:
            torch = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            torch = "missing"
        checks.append(DiarizeCheck("diarize_extra", "ok", f"pyannote.audio {version}, torch {torch}"))
    source = hub_token(settings)[1]
    checks.append(
        DiarizeCheck(
            "diarize_token",
            "ok" if source else "warn",
            f"set ({source})" if source else "not set",
            None
            if source
            else f"Needed to download gated pyannote models: create a token at {_TOKENS_PAGE} and set HF_TOKEN.",
        )
    )
    try:
        resolved = resolve_pipeline(settings)
    except TubesumError as exc:
        checks.append(DiarizeCheck("diarize_model", wanted, exc.message, exc.hint))
    else:
        detail = {
            "path": f"{resolved.name}: local pipeline",
            "cache": f"{resolved.name}: cached in {resolved.checkpoint}",
            "hub": f"{resolved.name}: not cached; downloaded on first use",
        }[resolved.origin]
        checks.append(DiarizeCheck("diarize_model", "ok", detail))
    return checks
