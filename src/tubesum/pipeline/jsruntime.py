"""The JavaScript runtime yt-dlp needs to solve YouTube's player challenges.

Today's YouTube hides working media URLs behind JavaScript challenges. yt-dlp solves them with the yt-dlp-ejs
scripts (installed by ``yt-dlp[default]``) run in an external JavaScript runtime; without one it warns "No
supported JavaScript runtime could be found" and many downloads fail. tubesum depends on the ``deno`` wheel,
which ships the Deno binary, and hands yt-dlp the binary's path explicitly (``js_runtimes``), so nothing
depends on PATH.

``TUBESUM_JS_RUNTIME`` chooses:

* ``auto`` (default): the Deno binary of the ``deno`` wheel, else the first of deno, node, bun, quickjs (qjs)
  found on PATH;
* ``none``: no runtime (yt-dlp then only does what works without one);
* ``NAME`` (one of yt-dlp's runtime names: deno, node, bun, quickjs): that runtime, found on PATH;
* ``NAME:/path/to/binary``: that binary.

:func:`resolve_js_runtime` only finds the binary (cheap, no process started); :func:`probe_js_runtime` also
asks it for its version through yt-dlp's own runtime classes and runs yt-dlp's challenge solver in it once, on
a script that is not YouTube's player, which the solver must reject as such (for ``tubesum doctor``,
``/readyz`` and the desktop self-test): that proves the runtime starts, can write its cache and runs the
yt-dlp-ejs scripts, without YouTube.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tubesum.config import JS_RUNTIME_NAMES, parse_js_runtime
from tubesum.errors import ConfigError

__all__ = [
    "JsRuntime",
    "JsRuntimeStatus",
    "installed_version",
    "probe_js_runtime",
    "resolve_js_runtime",
    "ydl_js_runtimes",
]

_EXECUTABLES = {"deno": ("deno",), "node": ("node",), "bun": ("bun",), "quickjs": ("qjs", "quickjs")}
FIX_HINT = (
    "Reinstall tubesum's dependencies (uv sync / pip install 'tubesum'), which include the deno wheel, "
    "or install Deno >= 2.3, Node >= 22, Bun or QuickJS and set TUBESUM_JS_RUNTIME=NAME:/path/to/binary."
)


@dataclass(frozen=True, slots=True)
class JsRuntime:
    """A runtime binary yt-dlp can use: its yt-dlp ``name`` and the ``path`` of the executable."""

    name: str
    path: str
    origin: str  # "deno wheel", "PATH" or "TUBESUM_JS_RUNTIME"


@dataclass(frozen=True, slots=True)
class JsRuntimeStatus:
    """What :func:`probe_js_runtime` found: the runtime (if any), its version and whether yt-dlp supports it."""

    runtime: JsRuntime | None
    version: str | None = None
    supported: bool = False
    solver: str | None = None  # yt-dlp-ejs version, None when the solver scripts are missing
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.runtime is not None and self.supported and self.solver is not None and self.problem is None

    def describe(self) -> str:
        """One line for doctor and /readyz, e.g. ``deno 2.9.8 (deno wheel: /venv/bin/deno), yt-dlp-ejs 0.8.0``."""
        if self.runtime is None:
            return self.problem or "no JavaScript runtime found"
        text = f"{self.runtime.name} {self.version or '?'} ({self.runtime.origin}: {self.runtime.path})"
        if not self.supported:
            text += ", too old for yt-dlp" if self.version else ", does not run"
        text += f", yt-dlp-ejs {self.solver}" if self.solver else ", yt-dlp-ejs missing"
        return f"{text}: {self.problem}" if self.problem else text


@functools.lru_cache(maxsize=8)
def resolve_js_runtime(setting: str = "auto") -> JsRuntime | None:
    """Return the runtime ``setting`` (a ``TUBESUM_JS_RUNTIME`` value) names, or None when there is none.

    Raises :class:`~tubesum.errors.ConfigError` when an explicitly named runtime cannot be found.
    Cached per setting: PATH and the installed wheel do not change while a process runs.
    """
    mode, path = parse_js_runtime(setting)
    if mode == "none":
        return None
    if path is not None:
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"TUBESUM_JS_RUNTIME names {path}, which is not an executable file.", hint=FIX_HINT)
        return JsRuntime(mode, path, "TUBESUM_JS_RUNTIME")
    if mode == "auto":
        wheel = _wheel_deno()
        if wheel is not None:
            return JsRuntime("deno", wheel, "deno wheel")
        for name in JS_RUNTIME_NAMES:
            found = _on_path(name)
            if found is not None:
                return JsRuntime(name, found, "PATH")
        return None
    found = _on_path(mode) or (_wheel_deno() if mode == "deno" else None)
    if found is None:
        raise ConfigError(f"TUBESUM_JS_RUNTIME={mode}, but no {mode} executable was found.", hint=FIX_HINT)
    return JsRuntime(mode, found, "PATH")


def ydl_js_runtimes(setting: str) -> dict[str, dict[str, str]]:
    """Return yt-dlp's ``js_runtimes`` option: the one runtime found, with its path; ``{}`` turns them off."""
    runtime = resolve_js_runtime(setting)
    return {runtime.name: {"path": runtime.path}} if runtime is not None else {}


@functools.lru_cache(maxsize=8)
def probe_js_runtime(setting: str) -> JsRuntimeStatus:
    """Find the runtime, ask it for its version with yt-dlp's own runtime classes, and run the solver in it once.

    Starts the binary twice per process and setting (cached: ``/readyz`` and the metrics scrape ask often).
    """
    solver = installed_version("yt-dlp-ejs")
    try:
        runtime = resolve_js_runtime(setting)
    except (ConfigError, ValueError) as exc:
        return JsRuntimeStatus(None, solver=solver, problem=getattr(exc, "message", str(exc)))
    if runtime is None:
        problem = "disabled (TUBESUM_JS_RUNTIME=none)" if setting.strip().lower() == "none" else None
        return JsRuntimeStatus(None, solver=solver, problem=problem)
    from yt_dlp.globals import supported_js_runtimes

    info = supported_js_runtimes.value[runtime.name](path=runtime.path).info
    if info is None:
        return JsRuntimeStatus(runtime, solver=solver)
    supported = bool(info.supported)
    problem = _solver_problem(runtime) if supported and solver else None
    return JsRuntimeStatus(runtime, version=info.version, supported=supported, solver=solver, problem=problem)


_NOT_A_PLAYER = "var notYouTubesPlayer = 1;"


def _solver_problem(runtime: JsRuntime) -> str | None:
    """Run yt-dlp's own challenge provider for ``runtime`` on a script that is not a player.

    Returns None when the solver ran and rejected the script ("unexpected structure"), else what went wrong.
    Uses yt-dlp internals (the ejs providers): if a yt-dlp update moves them, this says so instead of failing.
    """
    import yt_dlp

    try:
        from yt_dlp.extractor.youtube.jsc._registry import _jsc_providers
        from yt_dlp.extractor.youtube.jsc.provider import (
            JsChallengeProviderError,
            JsChallengeRequest,
            JsChallengeType,
            NChallengeInput,
        )
        from yt_dlp.extractor.youtube.pot._director import YoutubeIEContentProviderLogger
    except ImportError as exc:  # pragma: no cover - only after a yt-dlp update that moved them
        return f"cannot check the solver with this yt-dlp ({exc})"
    params = {"quiet": True, "no_warnings": True, "js_runtimes": {runtime.name: {"path": runtime.path}}}
    with yt_dlp.YoutubeDL(params) as ydl:
        ie = ydl.get_info_extractor("Youtube")
        provider_class = next(
            (c for c in _jsc_providers.value.values() if getattr(c, "JS_RUNTIME_NAME", None) == runtime.name), None
        )
        if provider_class is None:
            return f"yt-dlp has no challenge provider for {runtime.name}"
        provider = provider_class(ie, YoutubeIEContentProviderLogger(ie, "jsc"), {})
        if not provider.is_available():
            return "yt-dlp cannot use it for YouTube's challenges"
        player = NChallengeInput("https://www.youtube.com/s/player/0/player_ias.vflset/en_US/base.js", ["abcd"])
        stdin = provider._construct_stdin(_NOT_A_PLAYER, False, [JsChallengeRequest(JsChallengeType.N, player)])
        try:
            output = provider._run_js_runtime(stdin)
        except JsChallengeProviderError as exc:
            if "unexpected structure" in str(exc):
                return None  # the solver's own verdict on a script that is not a player: it ran
            return f"the challenge solver failed to run: {str(exc)[-300:]}"
    try:
        answered = json.loads(output).get("type") in ("error", "result")
    except (ValueError, AttributeError):
        answered = False
    return None if answered else f"the challenge solver answered nonsense: {output[:100]!r}"


def _wheel_deno() -> str | None:
    """The Deno binary the ``deno`` wheel installed next to this Python, if any."""
    try:
        from deno import find_deno_bin
    except ImportError:
        return None
    try:
        path = find_deno_bin()
    except FileNotFoundError:
        return None
    return path if os.access(path, os.X_OK) else None


def _on_path(name: str) -> str | None:
    for executable in _EXECUTABLES[name]:
        found = shutil.which(executable)
        if found is not None:
            return str(Path(found))
    return None


def installed_version(dist: str) -> str | None:
    """Return the installed version of distribution ``dist``, or None when it is not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
