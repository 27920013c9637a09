"""`leadsift import events` and `leadsift events list`: parse, call one service, render."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from leadsift.contacts import lookup
from leadsift.contacts.service import check_region
from leadsift.engagement import service
from leadsift.engagement.importing import (
    EventImportOptions,
    EventImportSummary,
    RowRejection,
    import_events,
)
from leadsift.engagement.schemas import EventView
from leadsift.engagement.service import AfterEvents
from leadsift.kit.cli import (
    AtomicCsv,
    CliState,
    emit_json,
    key_value_table,
    plain,
    state,
    stderr,
    stdout,
)

events_app = typer.Typer(help="Look at recorded events.", no_args_is_help=True)
_SUMMARY_WIDTH = 60


class RejectsFile(AtomicCsv):
    """Rejected rows in a temporary CSV, moved into place only when the import finishes."""

    def __init__(self, target: Path) -> None:
        super().__init__(target, ("row", "code", "message"))

    def __call__(self, rejections: Sequence[RowRejection]) -> None:
        self.write_rows((r.row, r.code, r.message) for r in rejections)


def _summary_table(summary: EventImportSummary) -> Table:
    rows: dict[str, object] = {
        "file": f"{summary.file} ({summary.format})",
        "rows": summary.rows,
        "inserted": summary.inserted,
        "duplicates (stored before)": summary.duplicates,
        "rejected": summary.rejected,
    }
    for code, count in summary.rejected_by_code.items():
        rows[f"  {code}"] = count
    rows["contacts rescored"] = summary.contacts_rescored
    rows["seconds"] = summary.seconds
    if summary.dry_run:
        rows["dry run"] = "nothing written"
    return key_value_table("Event import", rows)


def _run_import(
    cli: CliState,
    file: Path,
    options: EventImportOptions,
    after: AfterEvents,
    sink: RejectsFile | None,
) -> EventImportSummary:
    columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, disable=cli.json_output, transient=True) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with cli.unit_of_work(dry_run=options.dry_run) as session:
            return import_events(
                session, file, options, after=after, progress=progress, on_rejections=sink
            )


def _import_command(after: AfterEvents) -> Callable[..., None]:
    def import_events_command(  # noqa: PLR0917 - one parameter per CLI option
        ctx: typer.Context,
        file: Annotated[
            Path, typer.Argument(help="CSV (any delimiter, .gz ok), XLSX or JSON Lines.")
        ],
        rejects: Annotated[
            Path | None, typer.Option(help="Write rejected rows (row, code, message) to this CSV.")
        ] = None,
        default_region: Annotated[
            str, typer.Option(help="Country for phones without +code.")
        ] = "FR",
        dry_run: Annotated[
            bool, typer.Option(help="Report what would happen; write nothing.")
        ] = False,
        source: Annotated[
            str | None, typer.Option(help="Source of the rows that give none.")
        ] = None,
        campaign: Annotated[
            str | None, typer.Option(help="Campaign of the rows that give none.")
        ] = None,
        encoding: Annotated[str | None, typer.Option(help="Force the file encoding.")] = None,
    ) -> None:
        """Record the events of FILE (idempotent: re-importing stores nothing new), then update
        their contacts' interest and stages by the active playbook."""
        cli = state(ctx)
        options = EventImportOptions(
            default_region=check_region(default_region),
            source=source,
            campaign=campaign,
            encoding=encoding,
            dry_run=dry_run,
            future_tolerance=timedelta(seconds=cli.settings.event_future_tolerance_s),
        )
        sink = RejectsFile(rejects) if rejects is not None else None
        try:
            summary = _run_import(cli, file, options, after, sink)
        except BaseException:
            if sink is not None:
                sink.discard()
            raise
        if sink is not None:
            sink.commit()
        if cli.json_output:
            emit_json(summary)
            return
        stdout.print(_summary_table(summary))
        for warning in summary.warnings:
            stderr.print(f"warning: {warning}", markup=False, highlight=False)

    return import_events_command


def _properties_summary(properties: dict[str, Any]) -> str:
    text = ", ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in properties.items()
    )
    return text if len(text) <= _SUMMARY_WIDTH else text[: _SUMMARY_WIDTH - 1] + "…"


def _events_table(title: str, events: Sequence[EventView]) -> Table:
    # A Text title and plain() cells: user agents and referrers are data, never markup.
    table = Table(title=Text(title), title_justify="left")
    table.add_column("occurred_at", no_wrap=True)
    table.add_column("type", no_wrap=True)
    for name in ("source / campaign", "properties", "anonymous id"):
        table.add_column(name)
    for event in events:
        origin = " / ".join(part for part in (event.source, event.campaign) if part)
        table.add_row(
            plain(event.occurred_at.isoformat(timespec="seconds")),
            plain(event.type),
            plain(origin),
            plain(_properties_summary(event.properties)),
            plain(event.anonymous_id),
        )
    return table


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    contact: Annotated[
        str, typer.Option("--contact", help="Contact id, email, phone or external id.")
    ],
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N events.")] = 100,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only events of this type.")
    ] = None,
) -> None:
    """A contact's timeline, oldest first."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        view = lookup.find_contact(session, contact, cli.settings.default_region)
        events = service.timeline(session, view.id, limit, event_type=event_type)
    if cli.json_output:
        emit_json({"contact_id": view.id, "events": [e.model_dump(mode="json") for e in events]})
        return
    who = view.email or view.phone or view.external_id or ""
    stdout.print(_events_table(f"Events of contact {view.id} {who}".strip(), events))


def register(app: typer.Typer, import_app: typer.Typer, after_events: AfterEvents) -> None:
    """Add `import events` (rescoring with AFTER_EVENTS) and `events list` to the root CLI."""
    import_app.command("events")(_import_command(after_events))
    app.add_typer(events_app, name="events")
