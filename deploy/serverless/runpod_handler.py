"""RunPod serverless entry point: one request in, the transcript in every asked format out.

``handler(job)`` takes RunPod's job dict (``{"id": ..., "input": {...}}``) and returns a JSON-ready dict. It
calls tubesum's service layer (``resolve_source``, ``transcribe_source``, ``render``) — no pipeline logic here — and
keeps the Whisper model loaded between requests of a warm worker (the service's model registry caches it per
process). Input::

    {"source": "https://youtu.be/...",            # a URL (exactly one of source / audio_base64 / sample)
     "audio_base64": "...", "filename": "a.m4a",  # or the media itself (RunPod caps payloads at 10-20 MB)
     "sample": true,                              # or the bundled sample (smoke test; needs tubesum[sample])
     "options": {"formats": ["srt", "json"], "model": "small", "language": "en", ...}}   # the API's JobOptions

Output: ``{"outputs": {"srt": "...", ...}, "outputs_base64": {"pdf": "..."}, "language", "duration",
"model", "device", "origin", "title", "seconds"}``. Failures return ``{"error": message, "code": code,
"hint": hint}`` (RunPod marks the job failed): ``invalid_input`` for a malformed request, else the stable
tubesum error code (``invalid_url``, ``video_private``, ``model_not_found``, ...).

Settings come from ``TUBESUM_*`` variables of the endpoint (``TUBESUM_MODEL``, ``TUBESUM_MODEL_CACHE_DIR`` on
a network volume, ...). Run it on RunPod with ``python runpod_handler.py`` (docs/deploy-serverless.md); the
``runpod`` package is imported only then, so tests call ``handler`` directly.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tubesum import service
from tubesum.config import Settings
from tubesum.errors import SizeLimitError, TubesumError, describe_validation
from tubesum.files import job_workdir
from tubesum.jobs.submit import check_model
from tubesum.jobs.types import JobOptions

logger = logging.getLogger("tubesum.serverless")
BINARY_FORMATS = frozenset({"pdf"})
_settings: Settings | None = None


class HandlerInput(BaseModel):
    """The ``input`` of a RunPod job; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = Field(None, max_length=2048, description="A YouTube (or, when allowed, media) URL.")
    audio_base64: str | None = Field(None, description="The media file itself, base64-encoded.")
    filename: str = Field("upload", max_length=255, description="Name of the uploaded file (its extension helps).")
    sample: bool = Field(False, description="Transcribe the bundled sample (a smoke test).")
    options: JobOptions = Field(default_factory=JobOptions)

    @field_validator("source")
    @classmethod
    def _url_only(cls, value: str | None) -> str | None:
        # Never a path: a caller must not make the worker read (or probe for) its own files.
        if value is not None and not re.match(r"^\s*https?://", value, re.IGNORECASE):
            raise ValueError("must be an http(s) URL; send file contents as audio_base64")
        return value

    @field_validator("audio_base64")
    @classmethod
    def _is_base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("is not valid base64") from None
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> HandlerInput:
        given = [name for name in ("source", "audio_base64", "sample") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of source, audio_base64, sample (got {', '.join(given) or 'none'})")
        return self


def settings() -> Settings:
    """The endpoint's settings, read once per worker process."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def handler(job: dict[str, Any], *, config: Settings | None = None) -> dict[str, Any]:
    """Transcribe the job's input and return the rendered outputs, or an error with a stable code."""
    started = time.perf_counter()
    try:
        request = HandlerInput.model_validate(job.get("input") if isinstance(job, dict) else None)
    except ValidationError as exc:
        problem = describe_validation(exc, where="input", first=True)
        return {"error": problem, "code": "invalid_input", "hint": "See runpod_handler.py."}
    try:
        return _run(request, config or settings(), started=started)
    except TubesumError as exc:
        logger.warning("serverless job failed", extra={"code": exc.code})
        return {"error": exc.message, "code": exc.code, "hint": exc.hint}


def _run(request: HandlerInput, base: Settings, *, started: float) -> dict[str, Any]:
    check_model(request.options.model, settings=base)  # names from the allow-list only, never a worker path
    effective = request.options.effective(base)
    with job_workdir(effective.work_dir) as tmp:
        if request.sample:
            text = str(service.sample_path())
        elif request.audio_base64:
            text = str(_write_upload(request, tmp, effective))
        else:
            assert request.source is not None
            text = request.source  # an http(s) URL (HandlerInput refuses anything else)
        source = service.resolve_source(text, settings=effective).source
        transcript = service.shareable(service.transcribe_source(source, settings=effective))  # no temp paths
    outputs: dict[str, str] = {}
    binary: dict[str, str] = {}
    for fmt, rendered in service.render(transcript, effective.formats).items():
        if fmt in BINARY_FORMATS:
            binary[fmt] = base64.b64encode(rendered.data).decode("ascii")
        else:
            outputs[fmt] = rendered.data.decode("utf-8")
    return {
        "outputs": outputs,
        "outputs_base64": binary,
        "language": transcript.language,
        "duration": transcript.duration,
        "model": transcript.model,
        "origin": transcript.origin,
        "title": transcript.title,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _write_upload(request: HandlerInput, directory: Path, config: Settings) -> Path:
    assert request.audio_base64 is not None
    limit = config.max_filesize_bytes
    if limit is not None and len(request.audio_base64) * 3 // 4 > limit:
        raise SizeLimitError(f"The upload is larger than {config.max_filesize_mb} MB.", hint="Send a URL instead.")
    data = base64.b64decode(request.audio_base64, validate=True)  # validated by HandlerInput
    suffix = PurePath(request.filename).suffix[:10]  # only the extension: the name never becomes a path
    path = directory / f"upload{suffix}"
    path.write_bytes(data)
    return path


if __name__ == "__main__":  # pragma: no cover - runs on RunPod only
    import runpod  # type: ignore[import-not-found]

    runpod.serverless.start({"handler": handler})
