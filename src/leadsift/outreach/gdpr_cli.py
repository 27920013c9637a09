"""`leadsift gdpr export|erase|purge`: the rights of the people contacted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from leadsift.contacts import lookup
from leadsift.kit.cli import (
    emit_json,
    key_value_table,
    plain,
    state,
    stdout,
    to_jsonable,
    write_atomically,
)
from leadsift.kit.clock import utcnow
from leadsift.outreach import gdpr

gdpr_app = typer.Typer(help="Data-protection rights: export, erase, purge.", no_args_is_help=True)


@gdpr_app.command("export")
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    out: Annotated[Path | None, typer.Option(help="Write the JSON here (default: stdout).")] = None,
) -> None:
    """Everything stored about a person, as JSON (identity, consents, events, stages, scores,
    messages, codes)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        contact = lookup.find_contact(session, ref, cli.settings.default_region)
        document = gdpr.export(session, contact.id, now=utcnow())
    text = json.dumps(to_jsonable(document), ensure_ascii=False, indent=2, default=str)
    if out is None:
        typer.echo(text)
        return
    write_atomically(out, text + "\n")
    if cli.json_output:
        emit_json({"contact_id": contact.id, "file": str(out)})
    else:
        stdout.print(plain(f"contact {contact.id}: exported to {out}"))


@gdpr_app.command("erase")
def erase(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it (erasure cannot be undone).")] = False,
) -> None:
    """Delete a person from every table; keyed hashes of their identifiers stay suppressed."""
    cli = state(ctx)
    if not yes:
        raise typer.BadParameter("erasure cannot be undone: add --yes to confirm")
    with cli.unit_of_work() as session:
        contact = lookup.find_contact(session, ref, cli.settings.default_region)
        counts = gdpr.erase(session, contact.id, now=utcnow())
    if cli.json_output:
        emit_json({"erased": True, "deleted": counts})
    else:
        stdout.print(key_value_table("Erased (rows deleted)", dict(counts)))


@gdpr_app.command("purge")
def purge(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(help="Count them, delete nothing.")] = False,
) -> None:
    """Erase prospects with nothing they initiated for 3 years (a click, reply, form, visit or
    purchase counts; an email open does not)."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=dry_run) as session:
        summary = gdpr.purge(session, now=utcnow(), dry_run=dry_run)
    if cli.json_output:
        emit_json(summary)
        return
    rows: dict[str, object] = {"cutoff": summary["cutoff"].isoformat(),
                               "prospects": summary["prospects"], "dry run": dry_run}  # fmt: skip
    rows.update({f"deleted: {k}": v for k, v in summary["deleted"].items()})
    stdout.print(key_value_table("Purge", rows))
