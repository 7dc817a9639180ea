"""``/openapi.json`` and ``/docs``: the addresses tools and people expect (FastAPI's), next to Litestar's ``/schema``.

``/openapi.json`` answers the same document as ``/schema/openapi.json`` (as ``application/json``, no redirect:
some generators do not follow one); ``/docs`` redirects to the Swagger UI at ``/schema/swagger``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import Redirect

__all__ = ["DOCS_PUBLIC_PATHS", "DocsAliasController"]

DOCS_PUBLIC_PATHS = ["^/openapi\\.json$", "^/docs$"]


class DocsAliasController(Controller):
    include_in_schema = False

    @get("/openapi.json", exclude_from_auth=True, sync_to_thread=False)
    def openapi_json(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """The OpenAPI document, as at /schema/openapi.json."""
        return Response(request.app.openapi_schema.to_schema(), media_type="application/json")

    @get("/docs", exclude_from_auth=True, sync_to_thread=False)
    def docs(self) -> Redirect:
        """Swagger UI."""
        return Redirect("/schema/swagger")
