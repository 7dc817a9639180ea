"""``tubesum keys create|list|revoke|webhook-secret``: API keys for ``tubesum serve`` (only their hashes are
stored) and the per-key secrets that sign webhooks (stored as is: signing needs them)."""

from __future__ import annotations

from typing import Any

import click

from tubesum.cli._common import AppContext, echo_json, pass_app
from tubesum.cli.db import open_store
from tubesum.jobs.types import ApiKeyRecord

__all__ = ["keys"]


def _key_dict(key: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "active": key.active,
    }


@click.group()
def keys() -> None:
    """Manage API keys for the HTTP API (sent as 'Authorization: Bearer tsk_...')."""


@keys.command(name="create")
@click.option("--name", required=True, help="Who or what the key is for (shown in `keys list`).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def keys_create(app: AppContext, name: str, as_json: bool) -> None:
    """Create a key and print it: it is shown this once and cannot be recovered."""
    with open_store(app.settings) as store:
        try:
            record, token = store.create_key(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--name'") from exc
        webhook_secret = store.webhook_secret(record.id)
    if as_json:
        echo_json({**_key_dict(record), "key": token, "webhook_secret": webhook_secret})
    else:
        click.echo(token)
    click.echo(f"Created key {record.id} ({record.name}). Save it now: it will not be shown again.", err=True)
    if not as_json:
        click.echo(
            f"Its webhook signing secret: {webhook_secret} (again: `tubesum keys webhook-secret {record.id}`).",
            err=True,
        )


@keys.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def keys_list(app: AppContext, as_json: bool) -> None:
    """List keys (id, name, created, revoked); the keys themselves are never stored."""
    with open_store(app.settings) as store:
        records = store.list_keys()
    if as_json:
        echo_json([_key_dict(k) for k in records])
        return
    if not records:
        click.echo("No API keys yet: create one with `tubesum keys create --name NAME`.")
        return
    click.echo(f"{'ID':<16}  {'CREATED':<20}  {'REVOKED':<20}  NAME")
    for k in records:
        created = f"{k.created_at:%Y-%m-%d %H:%M:%S}"
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M:%S}" if k.revoked_at else "-"
        click.echo(f"{k.id:<16}  {created:<20}  {revoked:<20}  {k.name}")


@keys.command(name="revoke")
@click.argument("key_id")
@pass_app
def keys_revoke(app: AppContext, key_id: str) -> None:
    """Revoke the key KEY_ID: requests with it are refused from now on."""
    with open_store(app.settings) as store:
        found = store.revoke_key(key_id)
    if not found:
        raise click.ClickException(f"No API key with id {key_id!r} (see `tubesum keys list`).")
    click.echo(f"Revoked key {key_id}.")


@keys.command(name="webhook-secret")
@click.argument("key_id", required=False)
@click.option("--rotate", is_flag=True, help="Replace the key's secret (the old one stops signing at once).")
@click.option("--new", "standalone", is_flag=True, help="Print a fresh secret for TUBESUM_WEBHOOK_SECRET (no key).")
@pass_app
def keys_webhook_secret(app: AppContext, key_id: str | None, rotate: bool, standalone: bool) -> None:
    """Print the secret that signs KEY_ID's webhooks (whsec_...), creating it if the key has none yet.

    Receivers verify webhooks with it (Standard Webhooks). Without API keys (TUBESUM_AUTH_DISABLED), set
    TUBESUM_WEBHOOK_SECRET to the output of `tubesum keys webhook-secret --new` instead.
    """
    from tubesum.jobs.webhooks import new_secret

    if standalone:
        if key_id or rotate:
            raise click.UsageError("--new prints a secret for TUBESUM_WEBHOOK_SECRET: give no KEY_ID or --rotate.")
        click.echo(new_secret())
        return
    if not key_id:
        raise click.UsageError("Name a KEY_ID (see `tubesum keys list`), or use --new.")
    with open_store(app.settings) as store:
        secret = None if rotate else store.webhook_secret(key_id)
        if secret is None:
            secret = store.rotate_webhook_secret(key_id)
    if secret is None:
        raise click.ClickException(f"No API key with id {key_id!r} (see `tubesum keys list`).")
    click.echo(secret)
