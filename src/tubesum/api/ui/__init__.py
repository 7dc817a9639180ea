"""The browser UI: one server-rendered page at ``/`` plus plain JS/CSS under ``/ui/static`` (no build step).

The page is public (it holds no data); everything it shows comes from the API, called by ``app.js`` with the
API key the user typed (kept in ``sessionStorage``, sent as a header, never in a URL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from tubesum import __version__
from tubesum.api.deps import SettingsDep
from tubesum.config import OUTPUT_FORMATS

__all__ = ["UI_CSP", "UI_PUBLIC_PATHS", "template_config", "ui_router"]

_HERE = Path(__file__).parent
UI_PUBLIC_PATHS = ["^/$", "^/ui/static/"]
# Only what the page uses: its own script and styles, the API (fetch), blob: media of uploads, and YouTube's
# iframe player API for YouTube sources.
UI_CSP = (
    "default-src 'none'; script-src 'self' https://www.youtube.com https://s.ytimg.com; style-src 'self'; "
    "img-src 'self' data: https://i.ytimg.com; connect-src 'self'; media-src 'self' blob:; "
    "frame-src https://www.youtube.com https://www.youtube-nocookie.com; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
MODEL_CHOICES = ("tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "large-v3", "large-v3-turbo")


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 templates of the UI, with autoescaping on (every value is untrusted until proven otherwise)."""
    return TemplateConfig(directory=_HERE / "templates", engine=JinjaTemplateEngine)


@get("/", operation_id="ShowUi", include_in_schema=False, sync_to_thread=False)
def show_ui(settings: SettingsDep) -> Template:
    """Render the page with the server's defaults and switches (auth on/off, uploads and their limits)."""
    context: dict[str, Any] = {
        "version": __version__,
        "auth_required": not settings.auth_disabled,
        "uploads_enabled": settings.uploads_enabled,
        "upload_max_mb": settings.upload_max_mb,
        "upload_accept": ",".join(f".{e.lstrip('.')}" for e in settings.upload_extensions),
        "default_model": settings.model,
        "models": MODEL_CHOICES,
        "formats": OUTPUT_FORMATS,
        "default_formats": settings.formats,
    }
    return Template(
        template_name="index.html",
        context=context,
        headers={
            "Content-Security-Policy": UI_CSP,
            # YouTube's embedded player needs the page origin (not the path) as referrer.
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "Cache-Control": "no-store",
        },
    )


def ui_router() -> Router:
    """Return the page and its static files as one router."""
    static = create_static_files_router(
        path="/ui/static", directories=[_HERE / "static"], include_in_schema=False, name="ui-static"
    )
    return Router(path="/", route_handlers=[show_ui, static])
