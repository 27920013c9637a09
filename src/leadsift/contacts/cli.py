"""`leadsift import …` and `leadsift contacts …`: parse, call one service, render."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from leadsift.contacts import export, segments, service
from leadsift.contacts.normalise import Rejection
from leadsift.contacts.schemas import ImportOptions, ImportSummary
from leadsift.criteria import FieldSpec
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import CliState, emit_json, key_value_table, state, stderr, stdout

import_app = typer.Typer(help="Import contacts, and undo an import.", no_args_is_help=True)
contacts_app = typer.Typer(help="Look at and export contacts.", no_args_is_help=True)


class RejectsWriter:
    """Writes rejected rows to a temporary file, moved into place only when the import commits."""

    HEADER = ("row", "column", "value", "reason", "message")

    def __init__(self, target: Path) -> None:
        if not target.parent.is_dir():
            raise InvalidInputError(f"--rejects {target}: folder {target.parent} does not exist")
        self.target = target
        handle, name = tempfile.mkstemp(prefix=".rejects-", suffix=".csv", dir=target.parent)
        self.temp = Path(name)
        self.file = os.fdopen(handle, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        self.writer.writerow(self.HEADER)

    def __call__(self, rejections: Sequence[Rejection]) -> None:
        self.writer.writerows(
            (r.row_number, r.column or "", r.value or "", r.reason, r.message) for r in rejections
        )

    def commit(self) -> None:
        """Move the finished file into place."""
        self.file.close()
        self.temp.replace(self.target)

    def discard(self) -> None:
        """Remove the partial file."""
        self.file.close()
        self.temp.unlink(missing_ok=True)


def _summary_table(summary: ImportSummary) -> Table:
    rows: dict[str, object] = {
        "batch": summary.batch_id if summary.batch_id is not None else "(dry run: nothing written)",
        "file": f"{summary.file} ({summary.format}, {summary.encoding or '-'}, "
        f"delimiter {summary.delimiter!r})",
        "rows": summary.rows,
        "created": summary.created,
        "merged (duplicates within the file)": summary.merged,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": summary.rejected,
    }
    for reason, count in summary.rejected_by_reason.items():
        rows[f"  {reason}"] = count
    rows["seconds"] = summary.seconds
    return key_value_table("Import", rows)


@import_app.command("contacts")
def import_contacts(  # noqa: PLR0917 - one parameter per CLI option
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV (any delimiter, .gz ok), XLSX or JSON Lines.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help='"Header=field"; repeatable. field: a standard field, attrs.<name>, or ignore.',
        ),
    ] = None,
    default_region: Annotated[str, typer.Option(help="Country for phones without +code.")] = "FR",
    generate_ids: Annotated[
        bool,
        typer.Option(
            help="Derive external ids from row content (files without email, phone or id)."
        ),
    ] = False,
    update: Annotated[bool, typer.Option(help="Overwrite non-empty fields when merging.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Report what would happen; write nothing.")] = False,
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows to this CSV.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Force the file encoding.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: by size).")
    ] = None,
) -> None:
    """Import contacts from FILE as one batch (idempotent: re-running creates nothing)."""
    cli = state(ctx)
    options = ImportOptions(
        mapping=tuple(map_ or ()),
        default_region=service.check_region(default_region),
        generate_ids=generate_ids,
        update=update,
        dry_run=dry_run,
        encoding=encoding,
        workers=workers,
    )
    sink = RejectsWriter(rejects) if rejects is not None else None
    try:
        summary = _run_import(cli, file, options, sink)
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    if sink is not None:
        sink.commit()
    if cli.json_output:
        emit_json(summary)
    else:
        stdout.print(_summary_table(summary))


def _run_import(
    cli: CliState, file: Path, options: ImportOptions, sink: RejectsWriter | None
) -> ImportSummary:
    database = cli.database()
    columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, disable=cli.json_output, transient=True) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with database.unit_of_work(dry_run=options.dry_run) as session:
            return service.import_contacts(
                session, file, options, settings=cli.settings, progress=progress, on_rejections=sink
            )


@import_app.command("undo")
def import_undo(ctx: typer.Context, batch_id: Annotated[int, typer.Argument()]) -> None:
    """Remove the contacts an import created and restore the fields it overwrote."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        summary = service.undo_import(session, batch_id)
    if cli.json_output:
        emit_json(summary)
    else:
        stdout.print(key_value_table(f"Undo of batch {batch_id}", summary.model_dump()))


@contacts_app.command("show")
def contacts_show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
) -> None:
    """Show one contact with its stage, attributes and consent."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        view = service.find_contact(session, ref, cli.settings.default_region)
    if cli.json_output:
        emit_json(view)
        return
    data = view.model_dump(exclude={"attrs", "consent"})
    data.update({f"attrs.{k}": v for k, v in view.attrs.items()})
    data.update({f"consent.{k}": "yes" if v else "no" for k, v in view.consent.items()})
    stdout.print(key_value_table(f"Contact {view.id}", data))


WhereOption = Annotated[
    str | None,
    typer.Option(
        "--where", help="Criteria expression, e.g. 'age between 25 and 35 and region = \"IDF\"'."
    ),
]


@contacts_app.command("fields")
def contacts_fields(ctx: typer.Context) -> None:
    """List the fields criteria expressions may use, with their types."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        registry = segments.field_registry(session)
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
                ]
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
        table.add_row(spec.name, spec.value_type, notes)
    stdout.print(table)


def _field_order(spec: FieldSpec) -> tuple[int, str]:
    return ({"column": 0, "age": 0, "consent": 1, "attribute": 2}[spec.kind], spec.name)


@contacts_app.command("count")
def contacts_count(ctx: typer.Context, where: WhereOption = None) -> None:
    """Count the contacts matching a criteria expression (all contacts without --where)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        total = segments.count(session, where)
    if cli.json_output:
        emit_json({"count": total})
    else:
        stdout.print(total)


@contacts_app.command("list")
def contacts_list(
    ctx: typer.Context,
    where: WhereOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many contacts.")] = 50,
    fields: Annotated[
        str | None, typer.Option(help="Comma-separated fields (default id,email,phone,…).")
    ] = None,
) -> None:
    """List contacts matching a criteria expression, in id order."""
    cli = state(ctx)
    names = segments.parse_fields(fields)
    with cli.unit_of_work() as session:
        headers, rows = segments.rows(session, where, names, limit)
        listed = list(rows)
    if cli.json_output:
        emit_json({"contacts": [dict(zip(headers, row, strict=True)) for row in listed]})
        return
    table = Table(*headers)
    for row in listed:
        table.add_row(*("" if value is None else str(value) for value in row))
    stdout.print(table)


@contacts_app.command("export")
def contacts_export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file to write.")],
    where: WhereOption = None,
) -> None:
    """Write contacts (all, or those matching --where) to a CSV with the import's column names."""
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
            headers, rows = export.export_table(session, segments.where_condition(session, where))
            writer = csv.writer(out)
            writer.writerow(headers)
            for row in rows:
                writer.writerow(row)
                count += 1
        temp.replace(file)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if cli.json_output:
        emit_json({"file": str(file), "contacts": count})
    else:
        stdout.print(f"wrote {count} contacts to {file}")
