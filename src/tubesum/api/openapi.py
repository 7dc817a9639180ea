"""Document in the OpenAPI schema the errors every operation can answer (problem+json with a stable ``code``).

Litestar documents a handler's success and its validation error; the rest (401 without a key, 404, 413, 415,
429 from limits and quotas, 5xx) comes from middleware and the error family, so it is added here once for every
operation. The schemathesis test checks that every response the server gives is documented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema

if TYPE_CHECKING:
    from litestar import Litestar

__all__ = ["ERROR_STATUSES", "document_errors"]

ERROR_STATUSES = {
    "400": "The body cannot be read (not UTF-8, JSON nested too deep, malformed).",
    "401": "No API key, an invalid or revoked key, or two different keys.",
    "403": "Forbidden: a cross-site write, uploads disabled, a feature the key may not use.",
    "404": "Not found (another key's job is reported as missing too).",
    "405": "Method not allowed.",
    "408": "The upload body stalled.",
    "409": "Conflict: the job is not in a state that allows this.",
    "413": "The body, upload, media or upload quota is too large.",
    "415": "Wrong content type (job bodies are application/json; uploads are audio/video).",
    "422": "The request is invalid: a validation error or a refused source, model or option.",
    "429": "A rate limit or quota is used up; see Retry-After.",
    "default": "A server-side error (5xx), as problem+json.",
}

_PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    required=["title", "status", "code", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "code": Schema(type=OpenAPIType.STRING, description="Stable error code (tubesum.errors)."),
        "detail": Schema(type=OpenAPIType.STRING),
        "hint": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
    },
)


def document_errors(app: Litestar) -> None:
    """Add :data:`ERROR_STATUSES` (problem+json) to every operation of ``app``'s schema that lacks them.

    Run it at startup, before the schema is first served (Litestar caches the object this mutates).
    """
    for path_item in (app.openapi_schema.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method, None)
            if operation is None:
                continue
            responses = operation.responses if operation.responses is not None else {}
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(
                    status,
                    OpenAPIResponse(
                        description=description, content={"application/problem+json": OpenAPIMediaType(schema=_PROBLEM)}
                    ),
                )
            operation.responses = responses
