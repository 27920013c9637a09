"""`leadsift apikey create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from leadsift.access import service
from leadsift.kit.cli import emit_json, key_value_table, state, stderr, stdout

apikey_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)


@apikey_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Who or what uses the key (e.g. 'website').")],
    scope: Annotated[str, typer.Option(help="ingest (send events), read, or admin.")] = "ingest",
    user: Annotated[
        str | None,
        typer.Option(help="The user the key acts for (their role limits what it sees)."),
    ] = None,
) -> None:
    """Create a key and print it once (only its hash is stored). Without --user it is an
    integration key (a website, a CRM sync), limited by its scope alone."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        created = service.create_key(session, name, service.parse_scope(scope), user=user)
    if cli.json_output:
        emit_json(created)
        return
    stdout.print(created.key, markup=False, highlight=False)
    stderr.print(
        f"key {created.id} ({created.name}, scope {created.scope}): store it now, it is not "
        "shown again. Send it as `Authorization: Bearer <key>`.",
        markup=False,
    )


@apikey_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """List keys (prefix, scope, last use); never the keys themselves."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        keys = service.list_keys(session)
    if cli.json_output:
        emit_json({"keys": [key.model_dump(mode="json") for key in keys]})
        return
    table = Table("id", "name", "scope", "prefix", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.scope,
            key.prefix + "…",
            key.created_at.isoformat(timespec="seconds"),
            key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "",
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    stdout.print(table)


@apikey_app.command("revoke")
def revoke(ctx: typer.Context, key_id: Annotated[int, typer.Argument()]) -> None:
    """Revoke a key at once."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        key = service.revoke_key(session, key_id)
    if cli.json_output:
        emit_json(key)
    else:
        stdout.print(key_value_table(f"Revoked key {key.id}", {"name": key.name}))
