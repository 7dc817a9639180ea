"""``tubesum config show|env-example``: effective settings (secrets masked) and the .env template."""

from __future__ import annotations

import click

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.config import env_example
from tubesum.redact import masked_settings

__all__ = ["config"]


@click.group()
def config() -> None:
    """Inspect configuration."""


@config.command(name="show")
@pass_app
def config_show(app: AppContext) -> None:
    """Print the effective settings as JSON (secrets, URL passwords and secret query values as '**********')."""
    echo_json(masked_settings(app.settings))


@config.command(name="env-example")
def config_env_example() -> None:
    """Print a .env template with every variable, its default and its meaning."""
    click.echo(env_example(), nl=False)
