"""``GET /v1/models`` and ``/v1/models/{id}`` in OpenAI's shape: the Whisper models API callers may name.

The list is the allow-list of :meth:`~tubesum.config.Settings.remote_models` (``TUBESUM_API_MODELS``, else the
built-in names) plus ``whisper-1``, OpenAI's name, which means the server's configured model. Each entry has
OpenAI's fields (``id``, ``object``, ``created``, ``owned_by``) and tubesum's: ``available`` (on disk now, or
bundled), ``loaded`` (in this process's memory), ``english_only`` and ``default``. Errors on these routes use
OpenAI's error JSON (``{"error": {"message", "type", "param", "code"}}``), which its SDKs read.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from pydantic import BaseModel

from tubesum.api.deps import SettingsDep
from tubesum.config import Settings
from tubesum.service import cached_models, loaded_models

__all__ = ["OPENAI_DEFAULT_MODEL", "ModelController", "OpenAIError", "openai_error"]

OPENAI_DEFAULT_MODEL = "whisper-1"


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(BaseModel):
    """OpenAI's error body, as its SDKs parse it."""

    error: OpenAIErrorDetail


def openai_error(status: int, message: str, *, code: str, param: str | None = None) -> Response[dict[str, Any]]:
    """An error response in OpenAI's shape."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Response(body, status_code=status, media_type="application/json")


def model_entries(settings: Settings) -> list[dict[str, Any]]:
    """The models a caller may name, OpenAI-shaped with tubesum's extensions; the default first."""
    on_disk = {m.name: m for m in cached_models(settings)}
    in_memory = {m.resolved.name for m in loaded_models()}
    names = [OPENAI_DEFAULT_MODEL, *settings.remote_models()]
    entries = []
    for name in names:
        real = settings.model if name == OPENAI_DEFAULT_MODEL else name
        found = on_disk.get(real)
        entries.append(
            {
                "id": name,
                "object": "model",
                "created": int(found.path.stat().st_mtime) if found is not None else 0,
                "owned_by": "tubesum",
                "available": found is not None,
                "loaded": real in in_memory,
                "english_only": real.endswith(".en"),
                "default": real == settings.model,
            }
        )
    return entries


class ModelController(Controller):
    path = "/v1/models"
    tags = ("Models",)

    @get("/", operation_id="ListModels", sync_to_thread=True)
    def list_models(self, settings: SettingsDep) -> dict[str, Any]:
        """The Whisper models this server lets API callers name (OpenAI's list shape)."""
        return {"object": "list", "data": model_entries(settings)}

    @get(
        "/{model_id:path}",
        operation_id="GetModel",
        sync_to_thread=True,
        responses={
            404: ResponseSpec(OpenAIError, description="No such model (OpenAI's error shape).", generate_examples=False)
        },
    )
    def get_model(self, model_id: FromPath[str], settings: SettingsDep) -> Response[dict[str, Any]]:
        """One model of the list (hub ids such as ``org/repo`` too); 404 in OpenAI's error shape otherwise."""
        model_id = model_id.lstrip("/")
        for entry in model_entries(settings):
            if entry["id"] == model_id:
                return Response(entry)
        return openai_error(404, f"The model '{model_id[:100]}' does not exist.", code="model_not_found", param="model")
