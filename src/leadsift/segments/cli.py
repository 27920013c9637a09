"""`leadsift contacts fields|count|list|export`: contacts selected by a criteria expression."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadsift.access.service import audit
from leadsift.contacts import export
from leadsift.criteria import FieldSpec
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import emit_json, plain, print_rows, state, stdout
from leadsift.segments import saved
from leadsift.segments import service as segments
from leadsift.segments.fields import field_registry

WhereOption = Annotated[
    str | None,
    typer.Option(
        "--where", help="Criteria expression, e.g. 'age between 25 and 35 and region = \"IDF\"'."
    ),
]
SegmentOption = Annotated[
    str | None,
    typer.Option("--segment", help="A saved segment's name instead of --where (`segment list`)."),
]


# Aggregates over a contact's events: what `contacts fields` shows after the fields.
AGGREGATES = (
    (
        "count(TYPE [where …] [within 30d])",
        "integer",
        "events of TYPE (matching where, in the last 30 days); e.g. count(page_view where "
        'properties.path startswith "/pricing" within 30d) >= 3',
    ),
    (
        "last(TYPE [where …])",
        "datetime",
        "when the last event of TYPE happened; e.g. last(email_clicked) within 7d",
    ),
)


def contacts_fields(ctx: typer.Context) -> None:
    """List the fields criteria expressions may use, with their types."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        registry = field_registry(session)
    specs = sorted(
        {spec.name: spec for spec in registry.fields.values()}.values(), key=_field_order
    )
    if cli.json_output:
        emit_json(
            {
                "fields": [
                    {
                        "name": s.name,
                        "type": s.value_type,
                        "kind": s.kind,
                        "choices": list(s.choices),
                    }
                    for s in specs
                ],
                "aggregates": [{"syntax": syntax, "type": kind} for syntax, kind, _ in AGGREGATES],
            }
        )
        return
    table = Table("field", "type", "notes")
    for spec in specs:
        notes = spec.description or (", ".join(spec.choices) if spec.choices else "")
        if spec.kind == "attribute":
            notes = (
                f"custom attribute; also `{spec.key}`"
                if registry.fields.get(spec.key) is spec
                else "custom attribute"
            )
        table.add_row(plain(spec.name), spec.value_type, plain(notes))
    for syntax, kind, notes in AGGREGATES:
        table.add_row(plain(syntax), kind, plain(notes))
    stdout.print(table)


def _field_order(spec: FieldSpec) -> tuple[int, str]:
    order = {"column": 0, "age": 0, "score": 1, "prediction": 1, "consent": 2, "attribute": 3}
    return (order.get(spec.kind, 4), spec.name)


def contacts_count(
    ctx: typer.Context, where: WhereOption = None, segment: SegmentOption = None
) -> None:
    """Count the contacts matching --where or a saved --segment (all contacts without)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        total = segments.count(session, saved.chosen_expression(session, where, segment))
    if cli.json_output:
        emit_json({"count": total})
    else:
        stdout.print(total)


def contacts_list(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    where: WhereOption = None,
    segment: SegmentOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many contacts.")] = 50,
    fields: Annotated[
        str | None, typer.Option(help="Comma-separated fields (default id,email,phone,…).")
    ] = None,
    order_by: Annotated[
        str | None,
        typer.Option(
            "--order-by",
            help="Sort by a field: 'priority' (scores: highest first), 'created_at', 'city desc'.",
        ),
    ] = None,
) -> None:
    """List contacts matching a criteria expression, in id order or --order-by's."""
    cli = state(ctx)
    names = segments.parse_fields(fields)
    with cli.unit_of_work() as session:
        expression = saved.chosen_expression(session, where, segment)
        headers, rows = segments.rows(session, expression, names, limit, order_by)
        listed = list(rows)
    if cli.json_output:
        emit_json({"contacts": [dict(zip(headers, row, strict=True)) for row in listed]})
        return
    print_rows(headers, ([plain(_shown(value)) for value in row] for row in listed))


def _shown(value: object) -> str:
    """A cell as people read it: scores to two decimals (JSON keeps every digit)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def contacts_export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file to write.")],
    where: WhereOption = None,
    segment: SegmentOption = None,
) -> None:
    """Write contacts (all, or --where's or --segment's) to a CSV with the import's columns."""
    cli = state(ctx)
    if not file.parent.is_dir():
        raise InvalidInputError(f"cannot write {file}: folder {file.parent} does not exist")
    count = 0
    handle, name = tempfile.mkstemp(prefix=".export-", suffix=".csv", dir=file.parent)
    temp = Path(name)
    try:
        with (
            cli.unit_of_work() as session,
            os.fdopen(handle, "w", newline="", encoding="utf-8") as out,
        ):
            expression = saved.chosen_expression(session, where, segment)
            condition = segments.where_condition(session, expression)
            headers, rows = export.export_table(session, condition)
            writer = csv.writer(out)
            writer.writerow(headers)
            for row in rows:
                writer.writerow(row)
                count += 1
            # An export of personal data by a person: in the audit log (the count, not the rows).
            audit(session, None, "contacts_exported", ("contacts", None), details={"count": count})
        temp.replace(file)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if cli.json_output:
        emit_json({"file": str(file), "contacts": count})
    else:
        stdout.print(f"wrote {count} contacts to {file}")


def register(contacts_app: typer.Typer) -> None:
    """Add the segment commands to `leadsift contacts`."""
    contacts_app.command("fields")(contacts_fields)
    contacts_app.command("count")(contacts_count)
    contacts_app.command("list")(contacts_list)
    contacts_app.command("export")(contacts_export)
