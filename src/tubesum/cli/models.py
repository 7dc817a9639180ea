"""``tubesum models list|pull|path|status``: what is available offline, how to get more, what it needs."""

from __future__ import annotations

import click

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.model_estimates import diarize_estimate, summary_estimate, whisper_estimate
from tubesum.model_registry import REGISTRY
from tubesum.service import cached_models, cuda_device_count, known_model_names, pull_model, resolve_model

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


@models.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def models_status(app: AppContext, as_json: bool) -> None:
    """Show the configured model of each kind, its estimated memory, and what this process holds.

    The estimates are what GPU admission counts (tubesum.model_estimates: a table for Whisper and pyannote, the
    parameter count or size on disk for the summary LLM). A CLI process holds no model until it runs one; a
    server reports its own models in the tubesum_models_loaded metrics.
    """
    settings = app.settings
    gpu = settings.device == "cuda" or (settings.device == "auto" and cuda_device_count()[0] > 0)
    device = "cuda" if gpu else "cpu"
    compute = settings.compute_type if settings.compute_type != "auto" else ("float16" if device == "cuda" else "int8")
    configured = [
        ("whisper", settings.model, whisper_estimate(settings.model, compute)),
        (
            "summary",
            settings.summary_model,
            summary_estimate(settings.summary_model, gguf_file=settings.summary_gguf_file, device=device),
        ),
        ("diarize", settings.diarization_model, diarize_estimate(settings.diarization_model)),
    ]
    held = {(m.kind, m.name): m for m in REGISTRY.snapshot() if m.loaded}
    rows = [
        {
            "kind": kind,
            "name": name,
            "device": device,
            "estimate_mb": estimate.mb,
            "estimate_basis": estimate.basis,
            "loaded": (kind, name) in held,
        }
        for kind, name, estimate in configured
    ]
    if as_json:
        echo_json({"models": rows})
        return
    for row in rows:
        mark = "loaded" if row["loaded"] else "-"
        click.echo(
            f"  {row['kind']:<8} ~{row['estimate_mb']:>6} MB on {device:<4} ({row['estimate_basis']:<7}) "
            f"{mark:<6} {row['name']}"
        )
