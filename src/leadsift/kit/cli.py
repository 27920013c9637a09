"""What every CLI command shares: the global options, output in tables or one JSON document."""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from leadsift.config import Settings
from leadsift.db import Database
from leadsift.errors import InvalidInputError


@dataclass
class CliState:
    """The global options given before the command."""

    db_url: str
    json_output: bool
    settings: Settings
    _database: Database | None = field(default=None, repr=False)

    def database(self) -> Database:
        """The workspace database, connected, checked and migrated on first use."""
        if self._database is None:
            self._database = Database(self.db_url, self.settings).ready()
        return self._database

    @contextmanager
    def unit_of_work(self, *, dry_run: bool = False) -> Iterator[Session]:
        """A session committed when the command's work ends without error (not for a dry run)."""
        with self.database().unit_of_work(dry_run=dry_run) as session:
            yield session

    def close(self) -> None:
        """Release the database connections."""
        if self._database is not None:
            self._database.dispose()


def state(ctx: typer.Context) -> CliState:
    """The CliState stored by the root callback."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        raise RuntimeError("leadsift commands must run under the root callback")
    return obj


stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def to_jsonable(value: Any) -> Any:
    """Pydantic models, dataclasses and plain values (datetimes included) as JSON data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return to_jsonable_python(value)


def emit_json(document: Any) -> None:
    """Write exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(document), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def key_value_table(title: str, rows: Mapping[str, Any]) -> Table:
    """A two-column table for summaries."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        # Text, not markup: values are data (an imported name, a user agent) and are shown as is.
        table.add_row(Text(key), Text("" if value is None else str(value)))
    return table


def print_rows(
    headers: Sequence[str], rows: Iterable[Sequence[Text | str]], title: str | None = None
) -> None:
    """ROWS under HEADERS on standard output: a table where it fits, else one block per row."""
    listed = [list(row) for row in rows]
    table = Table(*headers, title=title)
    for row in listed:
        table.add_row(*row)
    natural = Measurement.get(stdout, stdout.options.update_width(10_000), table).maximum
    if natural <= stdout.width:
        stdout.print(table)
    elif not stdout.is_terminal:
        # A file or a pipe has no width: the table is written whole, never squeezed to 80.
        Console(width=natural, file=stdout.file, soft_wrap=True).print(table)
    else:
        # Squeezed into a narrow terminal a wide table shows "co…" in every cell.
        stdout.print(Group(*_records(headers, listed, title)))


def _records(
    headers: Sequence[str], rows: Sequence[Sequence[Text | str]], title: str | None
) -> Iterator[Table]:
    for number, row in enumerate(rows, start=1):
        record = Table(
            show_header=False,
            title=f"{title or 'row'} · {number}/{len(rows)}",
            title_justify="left",
            box=None,
            padding=(0, 1),
        )
        record.add_column(style="bold", no_wrap=True)
        record.add_column()
        for header, cell in zip(headers, row, strict=True):
            record.add_row(Text(header), cell)
        yield record


def plain(value: Any) -> Text:
    """A value as a table cell, never read as Rich markup."""
    return Text("" if value is None else str(value))


class AtomicCsv:
    """A CSV written to a temporary file beside TARGET, moved into place only by `commit`
    (a failed command leaves no half-written file)."""

    def __init__(self, target: Path, header: Sequence[str], option: str = "--rejects") -> None:
        if not target.parent.is_dir():
            raise InvalidInputError(f"{option} {target}: folder {target.parent} does not exist")
        self.target = target
        handle, name = tempfile.mkstemp(prefix=".partial-", suffix=".csv", dir=target.parent)
        self.temp = Path(name)
        self.file = os.fdopen(handle, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        self.writer.writerow(header)

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows."""
        self.writer.writerows(rows)

    def commit(self) -> None:
        """Move the finished file into place."""
        self.file.close()
        self.temp.replace(self.target)

    def discard(self) -> None:
        """Remove the partial file."""
        self.file.close()
        self.temp.unlink(missing_ok=True)


def write_atomically(target: Path, text: str) -> None:
    """Write TEXT to TARGET through a temporary file beside it (never a half-written file)."""
    handle, name = tempfile.mkstemp(prefix=".partial-", dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def value_text(value: Any) -> str:
    """A field's value as people read it in an explanation: "unknown" when missing, numbers to
    six significant digits."""
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
