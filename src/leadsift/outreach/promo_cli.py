"""`leadsift promo program create|list` and `leadsift promo redeem`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from leadsift.contacts import lookup
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import emit_json, key_value_table, plain, state, stdout
from leadsift.kit.clock import utcnow
from leadsift.outreach import promo, promo_repository

promo_app = typer.Typer(help="Promo programs and personal codes.", no_args_is_help=True)
program_app = typer.Typer(help="Promo programs.", no_args_is_help=True)
promo_app.add_typer(program_app, name="program")


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{option} {text!r}: give an ISO date-time with its offset"
        ) from None
    if moment.tzinfo is None:
        raise InvalidInputError(f"{option} {text!r}: add the offset, e.g. 2026-12-31T23:59+01:00")
    return moment


@program_app.command("create")
def create_program(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="A short name for the program.")],
    discount: Annotated[str, typer.Option(help="What a code gives, e.g. '20%' or '10 EUR'.")],
    valid_from: Annotated[str | None, typer.Option("--from", help="Valid from (ISO).")] = None,
    valid_until: Annotated[str | None, typer.Option("--until", help="Valid until (ISO).")] = None,
    max_redemptions: Annotated[
        int | None, typer.Option(help="At most this many redemptions in all.")
    ] = None,
    one_per_customer: Annotated[
        bool, typer.Option(help="A person redeems at most one code of the program.")
    ] = True,
    prefix: Annotated[str, typer.Option(help="Codes start with this (A-Z, 2-9).")] = "",
) -> None:
    """Create a promo program; campaigns with --promo KEY issue its codes."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        program = promo.create_program(
            session,
            key,
            discount=discount,
            now=utcnow(),
            valid_from=_moment(valid_from, "--from"),
            valid_until=_moment(valid_until, "--until"),
            max_redemptions=max_redemptions,
            one_per_customer=one_per_customer,
            prefix=prefix,
        )
        result = {"key": program.key, "discount": program.discount, "id": program.id}
    if cli.json_output:
        emit_json(result)
    else:
        stdout.print(plain(f"promo program {key} created ({discount})"))


@program_app.command("list")
def list_programs(ctx: typer.Context) -> None:
    """Every promo program, with its redemptions."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        rows = [
            {
                "key": p.key,
                "discount": p.discount,
                "valid_from": p.valid_from,
                "valid_until": p.valid_until,
                "max_redemptions": p.max_redemptions,
                "one_per_customer": p.one_per_customer,
                "redemptions": p.redemptions,
            }
            for p in promo_repository.programs(session)
        ]
    if cli.json_output:
        emit_json({"programs": rows})
        return
    table = Table(title="Promo programs")
    for column in rows[0] if rows else ("key",):
        table.add_column(column)
    for row in rows:
        table.add_row(*(plain("" if v is None else str(v)) for v in row.values()))
    stdout.print(table)


@promo_app.command("redeem")
def redeem(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The code (case and dashes do not matter).")],
    amount: Annotated[float | None, typer.Option(help="The purchase amount.")] = None,
    contact: Annotated[
        str | None, typer.Option(help="Who presents it (refused when it is someone else's).")
    ] = None,
) -> None:
    """Redeem a code: a purchase attributed to its campaign; the contact becomes a customer."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        presented_by = None
        if contact is not None:
            presented_by = lookup.find_contact(session, contact, cli.settings.default_region).id
        result = promo.redeem(session, code, now=utcnow(), amount=amount, presented_by=presented_by)
    if cli.json_output:
        emit_json(asdict(result))
    else:
        stdout.print(key_value_table("Redeemed", asdict(result)))
