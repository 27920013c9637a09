"""`leadsift audience export|list`: advertising audiences of consented contacts, hashed per
destination, and the log of those handed out."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from leadsift.errors import InvalidInputError
from leadsift.kit.cli import AtomicCsv, emit_json, key_value_table, plain, state, stdout
from leadsift.kit.clock import utcnow
from leadsift.outreach import audience_export
from leadsift.outreach.audiences import DESTINATIONS

audience_app = typer.Typer(
    help="Advertising audiences: export consented contacts, hashed; list past exports.",
    no_args_is_help=True,
)


class AudienceFile(AtomicCsv):
    """The audience CSV: written beside TARGET, hashed, moved into place once recorded, and
    removed again if the recording does not commit (no unrecorded audience is left behind)."""

    def __init__(self, target: Path, header: Sequence[str]) -> None:
        if target.is_dir():
            raise InvalidInputError(f"cannot write {target}: it is a folder")
        if not target.parent.is_dir():
            raise InvalidInputError(f"cannot write {target}: folder {target.parent} does not exist")
        try:
            super().__init__(target, header, option="FILE")
        except OSError as exc:
            raise InvalidInputError(f"cannot write {target}: {exc.strerror or exc}") from None
        self.placed = False

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows; a full disk or a lost folder is the user's to fix, said in one line."""
        try:
            super().write_rows(rows)
        except OSError as exc:
            raise InvalidInputError(f"cannot write {self.target}: {exc.strerror or exc}") from None

    def finish(self) -> str:
        """Close the file; the SHA-256 of its bytes."""
        try:
            self.file.close()
            with self.temp.open("rb") as written:
                return hashlib.file_digest(written, "sha256").hexdigest()
        except OSError as exc:
            raise InvalidInputError(f"cannot write {self.target}: {exc.strerror or exc}") from None

    def commit(self) -> None:
        """Move the finished file into place."""
        super().commit()
        self.placed = True

    def discard(self) -> None:
        """Remove the partial file, or the placed one when its record was not committed."""
        with contextlib.suppress(OSError):  # the write already failed; the file goes anyway
            self.file.close()
        self.temp.unlink(missing_ok=True)
        if self.placed:
            self.target.unlink(missing_ok=True)


@audience_app.command("export")
def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file to write (replaced if it exists).")],
    where: Annotated[
        str,
        typer.Option(
            "--where",
            help="Criteria expression, e.g. 'stage = \"unqualified\" and count(purchase) = 0'.",
        ),
    ],
    destination: Annotated[
        str, typer.Option("--destination", help=f"One of {', '.join(DESTINATIONS)}.")
    ],
    purpose: Annotated[
        str, typer.Option("--purpose", help="What the audience is for (recorded).")
    ] = audience_export.DEFAULT_PURPOSE,
) -> None:
    """Write the contacts --where selects that opted in to ad audiences (not withdrawn, not
    suppressed), their email and phone hashed as DESTINATION matches them; the export is
    recorded."""
    cli = state(ctx)
    destination = audience_export.check_destination(destination.strip().lower())
    purpose = audience_export.check_purpose(purpose)
    sink = AudienceFile(file, audience_export.header(destination))
    try:
        with cli.unit_of_work() as session:
            summary = audience_export.export_audience(
                session,
                criteria=where,
                destination=destination,
                purpose=purpose,
                sink=sink,
                now=utcnow(),
            )
            # In place before the record commits: a failed commit removes it again.
            sink.commit()
    except BaseException:
        sink.discard()
        raise
    document = {"export_id": summary.export_id, "destination": summary.destination,
                "file": str(file), "count": summary.count,
                "without_consent": summary.without_consent,
                "without_identifier": summary.without_identifier,
                "purpose": summary.purpose, "sha256": summary.sha256}  # fmt: skip
    if cli.json_output:
        emit_json(document)
    else:
        stdout.print(key_value_table("Audience export", document))


@audience_app.command("list")
def list_exports(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
) -> None:
    """Past audience exports: when, by whom, where to, what for, how many."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        views = audience_export.past_exports(session, limit)
    if cli.json_output:
        emit_json({"exports": [asdict(v) for v in views]})
        return
    # Compact, and short columns never wrap: on a narrow terminal the purpose and criteria do.
    table = Table(
        title="Audience exports",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("id", "at (UTC)", "actor", "to", "count", "no consent"):
        table.add_column(column, no_wrap=True)
    for column in ("purpose", "criteria"):
        table.add_column(column, overflow="fold")
    for v in views:
        cells = (v.id, f"{v.at:%Y-%m-%d %H:%M}", v.actor, v.destination, v.count,
                 v.without_consent, v.purpose, v.criteria)  # fmt: skip
        table.add_row(*(plain(cell) for cell in cells))
    stdout.print(table)
