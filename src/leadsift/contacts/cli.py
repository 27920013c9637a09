"""`leadsift import …` and `leadsift contacts …`: parse, call one service, render."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.orm import Session

from leadsift.contacts import lookup, service
from leadsift.contacts.normalise import Rejection
from leadsift.contacts.schemas import ImportOptions, ImportSummary
from leadsift.kit.cli import AtomicCsv, CliState, emit_json, key_value_table, state, stderr, stdout
from leadsift.kit.clock import utcnow

import_app = typer.Typer(help="Import contacts, and undo an import.", no_args_is_help=True)
# What follows an import in its transaction, given the contacts it created or changed: set by
# the root CLI (the active model scores them), since contacts know nothing of the layers above.
AfterImport = Callable[[Session, Sequence[int], datetime], object]
_after_import: list[AfterImport] = []


def after_import(hook: AfterImport) -> None:
    """Run HOOK after every committed `import contacts` (in the same transaction)."""
    _after_import.append(hook)


contacts_app = typer.Typer(help="Look at and export contacts.", no_args_is_help=True)


class RejectsWriter(AtomicCsv):
    """Rejected rows, in a file moved into place only when the import commits."""

    def __init__(self, target: Path) -> None:
        super().__init__(target, ("row", "column", "value", "reason", "message"))

    def __call__(self, rejections: Sequence[Rejection]) -> None:
        self.write_rows(
            (r.row_number, r.column or "", r.value or "", r.reason, r.message) for r in rejections
        )


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
            summary = service.import_contacts(
                session, file, options, settings=cli.settings, progress=progress, on_rejections=sink
            )
            if _after_import and summary.batch_id is not None and not options.dry_run:
                touched = service.contacts_of_batch(session, summary.batch_id)
                for hook in _after_import:
                    hook(session, touched, utcnow())
            return summary


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
        view = lookup.find_contact(session, ref, cli.settings.default_region)
    if cli.json_output:
        emit_json(view)
        return
    data = view.model_dump(exclude={"attrs", "consent", "scores"})
    data.update({f"score.{k}": v for k, v in view.scores.items() if v is not None})
    data.update({f"attrs.{k}": v for k, v in view.attrs.items()})
    data.update({f"consent.{k}": "yes" if v else "no" for k, v in view.consent.items()})
    stdout.print(key_value_table(f"Contact {view.id}", data))
