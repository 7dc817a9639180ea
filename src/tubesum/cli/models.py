"""``tubesum models list|pull|path``: what is available offline and how to get more."""

from __future__ import annotations

import click

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.service import cached_models, known_model_names, pull_model, resolve_model

__all__ = ["models"]


@click.group()
def models() -> None:
    """Manage Whisper models in the model cache (TUBESUM_MODEL_CACHE_DIR)."""


@models.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def models_list(app: AppContext, as_json: bool) -> None:
    """List known models and which are available offline."""
    available = {m.name: m for m in cached_models(app.settings)}
    rows = [
        {
            "name": name,
            "available": name in available,
            "origin": available[name].origin if name in available else None,
            "path": str(available[name].path) if name in available else None,
        }
        for name in known_model_names()
    ]
    if as_json:
        echo_json({"cache_dir": str(app.settings.model_cache_dir), "models": rows})
        return
    click.echo(f"Model cache: {app.settings.model_cache_dir}")
    for row in rows:
        mark = f"✓ {row['origin']}" if row["available"] else "  -"
        click.echo(f"  {mark:<10} {row['name']}")


@models.command(name="pull")
@click.argument("names", nargs=-1, required=True)
@pass_app
def models_pull(app: AppContext, names: tuple[str, ...]) -> None:
    """Download models into the cache (needs network; HF_TOKEN for gated repos)."""
    for name in names:
        click.echo(f"Pulling {name} …", err=True)
        resolved = pull_model(name, settings=app.settings)
        click.echo(str(resolved.path))


@models.command(name="path")
@click.argument("name", required=False)
@pass_app
def models_path(app: AppContext, name: str | None) -> None:
    """Print where a model (default: the configured one) is on disk; exit 5 when it is not available."""
    click.echo(str(resolve_model(name or app.settings.model, settings=app.settings).path))
