"""``retail keys``: create, list and revoke the API keys ``retail serve`` accepts."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import (
    UsageProblem,
    console,
    err_console,
    existing_lake_root,
    state_from,
)
from retail_lakehouse.serve.auth.keys import KeyStore, KeyStoreError, keys_path
from retail_lakehouse.serve.auth.roles import Role

app = typer.Typer(
    help="Manage API keys (viewer reads gold; analyst also quality and quarantine; admin all).",
    no_args_is_help=True,
)


def _store(ctx: typer.Context) -> KeyStore:
    """The key store of an existing lake: ``list`` and ``revoke`` refuse a lake folder that
    does not exist (a mistyped --lake listed no keys, exit 0)."""
    return KeyStore(keys_path(existing_lake_root(ctx)))


@app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[Role, typer.Option("--role", help="viewer, analyst or admin.")],
    name: Annotated[str | None, typer.Option("--name", help="A label to recognise it.")] = None,
) -> None:
    """Create a key and print it once, as the last line (only a salted hash is stored).

    In a lake folder that does not exist yet, the folder is created with the key, so that
    ``retail serve`` on it accepts the first uploads; it is said on stderr, in case --lake was
    mistyped."""
    root = state_from(ctx).lake_root
    new_lake = not root.is_dir()
    try:
        record, secret = KeyStore(keys_path(root)).create(role, name)
    except KeyStoreError as error:
        raise UsageProblem(str(error)) from None
    if new_lake:
        err_console.print(
            f"note: there was no lake at {root}: it is created, holding only this key "
            "(`retail serve` on it accepts uploads; check --lake if you meant another lake)",
            highlight=False,
        )
    console.print(
        f"created key [bold]{record.key_id}[/] ({record.role.value}, {record.name!r}); "
        "copy it now, it cannot be shown again:",
        highlight=False,
    )
    sys.stdout.flush()
    typer.echo(secret)


@app.command("list")
def list_keys(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every key with its role and state (never the secret)."""
    try:
        keys = _store(ctx).list()
    except KeyStoreError as error:
        raise UsageProblem(str(error)) from None
    if as_json:
        sys.stdout.write(json.dumps([k.public() for k in keys], indent=2) + "\n")
        return
    table = Table("id", "name", "role", "created", "state", title="API keys")
    for key in keys:
        state = f"[red]revoked {key.revoked_at}[/]" if key.revoked_at else "[green]active[/]"
        table.add_row(key.key_id, key.name, key.role.value, key.created_at, state)
    console.print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (see `retail keys list`).")],
) -> None:
    """Revoke a key: it and every token issued for it stop working immediately."""
    try:
        record = _store(ctx).revoke(key_id)
    except KeyStoreError as error:
        raise UsageProblem(str(error)) from None
    console.print(
        f"revoked key {record.key_id} ({record.name!r}) at {record.revoked_at}", markup=False
    )
