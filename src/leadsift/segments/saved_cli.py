"""`leadsift segment save|list|show|delete`: criteria expressions kept under a name."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from leadsift.kit.cli import emit_json, key_value_table, plain, state, stdout
from leadsift.segments import saved

segment_app = typer.Typer(
    help="Saved segments: criteria expressions kept under a name "
    "(use them with `contacts count|list|export --segment NAME`).",
    no_args_is_help=True,
)
NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="The segment's name, e.g. hot-leads (any case).")
]


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _rows(segment: saved.SegmentView) -> dict[str, object]:
    return {
        "name": segment.name,
        "expression": segment.expression,
        "description": segment.description or "",
        "created by": segment.created_by,
        "created": _when(segment.created_at),
        "updated": _when(segment.updated_at),
    }


@segment_app.command("save")
def save(
    ctx: typer.Context,
    name: NameArgument,
    where: Annotated[
        str,
        typer.Option(
            "--where", help="The criteria expression, e.g. 'stage = \"lead\" and interest >= 40'."
        ),
    ],
    description: Annotated[
        str | None, typer.Option(help="What the segment is for (replaced on each save).")
    ] = None,
) -> None:
    """Save a criteria expression under NAME (checked first); saving NAME again updates it."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        result = saved.save_segment(session, name, where, description)
    if cli.json_output:
        emit_json(result)
        return
    what = "saved" if result.created else ("updated" if result.changed else "unchanged")
    stdout.print(key_value_table(f"Segment {result.name} {what}", _rows(result)))


@segment_app.command("list")
def list_segments(
    ctx: typer.Context,
    counts: Annotated[
        bool,
        typer.Option(
            "--counts", help="Also count each segment's contacts (one query per segment)."
        ),
    ] = False,
) -> None:
    """List saved segments by name."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = saved.list_segments(session)
        numbers = {s.name: saved.visible_count(session, s.name) for s in found} if counts else {}
    if cli.json_output:
        listed = [
            {**s.model_dump(mode="json"), **({"count": numbers[s.name]} if counts else {})}
            for s in found
        ]
        emit_json({"segments": listed})
        return
    table = Table("name", "expression", "description", *(["contacts"] if counts else []))
    for s in found:
        extra = [str(numbers[s.name])] if counts else []
        table.add_row(plain(s.name), plain(s.expression), plain(s.description), *extra)
    stdout.print(table)


@segment_app.command("show")
def show(ctx: typer.Context, name: NameArgument) -> None:
    """Show a saved segment and how many contacts it selects now."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        segment = saved.get_segment(session, name)
        count = saved.visible_count(session, segment.name)
    if cli.json_output:
        emit_json({**segment.model_dump(mode="json"), "count": count})
    else:
        rows = {**_rows(segment), "contacts": count}
        stdout.print(key_value_table(f"Segment {segment.name}", rows))


@segment_app.command("delete")
def delete(ctx: typer.Context, name: NameArgument) -> None:
    """Delete a saved segment (campaigns and filters that copied its expression keep it)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        segment = saved.delete_segment(session, name)
    if cli.json_output:
        emit_json({"deleted": segment})
    else:
        stdout.print(f"deleted segment {segment.name}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add `segment` to the root CLI."""
    app.add_typer(segment_app, name="segment")
