"""`leadsift optout import FILE --list NAME` and `leadsift optout list`: opposition lists."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadsift.agents import optout
from leadsift.agents.calling import OPPOSITION_IMPORT_COMMAND
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import emit_json, key_value_table, plain, state, stdout
from leadsift.kit.clock import utcnow

optout_app = typer.Typer(
    help="Opposition lists (Bloctel): import them, see how fresh they are.", no_args_is_help=True
)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"--as-of {text!r}: give the list's date as YYYY-MM-DD, e.g. 2026-11-30"
        ) from None


@optout_app.command("import")
def import_file(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="The list as received: one phone number per line (text/CSV).")
    ],
    list_name: Annotated[
        str, typer.Option("--list", help="The list's handle, e.g. bloctel (lower case).")
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="The list's date, YYYY-MM-DD (default: the file's modification date)."
        ),
    ] = None,
) -> None:
    """Replace an opposition list with FILE's numbers (kept only as keyed hashes)."""
    cli = state(ctx)
    day = _day(as_of)
    with cli.unit_of_work() as session:
        result = optout.import_list(
            session,
            file,
            list_name,
            default_region=cli.settings.default_region,
            now=utcnow(),
            as_of=day,
        )
    document = {
        "list": result.list_name,
        "as_of": result.as_of,
        "entries": result.entries,
        "file_sha256": result.file_sha256,
        "import_id": result.import_id,
        "replaced": result.replaced,
    }
    if cli.json_output:
        emit_json(document)
    else:
        stdout.print(key_value_table("Opposition list imported", document))


@optout_app.command("list")
def list_lists(ctx: typer.Context) -> None:
    """The opposition lists with their latest import; outdated ones may not be relied upon."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        statuses = optout.list_statuses(session, utcnow().date())
    rows = [asdict(status) for status in statuses]
    if cli.json_output:
        emit_json({"lists": rows})
        return
    if not rows:
        stdout.print(plain(f"no opposition list imported yet: run `{OPPOSITION_IMPORT_COMMAND}`"))
        return
    table = Table(title="Opposition lists")
    for column in ("list", "as of", "entries", "imported at", "age (days)", "outdated"):
        table.add_column(column)
    for status in statuses:
        table.add_row(
            plain(status.list_name),
            plain(status.as_of.isoformat()),
            plain(status.entries),
            plain(f"{status.imported_at:%Y-%m-%d %H:%M}"),
            plain(status.age_days),
            plain("yes" if status.outdated else "no"),
        )
    stdout.print(table)
