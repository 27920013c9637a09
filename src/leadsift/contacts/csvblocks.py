"""CSV text cut into whole-record blocks, so worker processes can parse as well as normalise."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from leadsift.errors import ImportFileError

# The same per-field limit as the streaming reader: a longer value is not contact data.
MAX_FIELD = 10_000_000
Row = tuple[int, list[str]]


@dataclass
class CsvStream:
    """A CSV file past its header and first data record, ready to be cut into blocks."""

    name: str
    text: IO[str]
    first: Row
    width: int
    delimiter: str
    next_line: int  # the line after the first data record


def _safe_cut(text: str) -> int:
    """Index just after the last newline outside quotes (even count of '"' before it), or 0."""
    position = text.rfind("\n")
    while position >= 0:
        # Quotes inside fields are doubled, so an even count means we are between records.
        if text.count('"', 0, position) % 2 == 0:
            return position + 1
        position = text.rfind("\n", 0, position)
    return 0


def text_blocks(text: IO[str], first_line: int, size: int) -> Iterator[tuple[int, str]]:
    """Yield (line number of the block's first line, block) holding only whole records."""
    pending, line = "", first_line
    while True:
        piece = text.read(size)
        if not piece:
            if pending:
                yield line, pending
            return
        pending += piece
        cut = _safe_cut(pending)
        if cut == 0:
            continue  # a record longer than one read: keep reading
        block, pending = pending[:cut], pending[cut:]
        yield line, block
        line += block.count("\n")


def is_blank(row: list[str]) -> bool:
    """A record with nothing in it (a blank line), which is not data."""
    return not row or (len(row) == 1 and not row[0].strip())


def _one_line(message: str) -> ImportFileError:
    return ImportFileError(message.replace("\r", " ").replace("\n", " "))


def ragged_row(name: str, row: int, cells: int, width: int) -> ImportFileError:
    """The error for a record whose cell count differs from the header's."""
    return _one_line(
        f"{name} row {row}: {cells} cells but the header has {width} "
        "— check the delimiter or quoting"
    )


def csv_failure(name: str, row: int, exc: csv.Error) -> ImportFileError:
    """A csv module error as one actionable line naming the file and row."""
    # Decoding and gzip errors cannot happen here: the pre-pass read the whole file already.
    if "field limit" in str(exc):
        return _one_line(
            f"{name} row {row}: a value is longer than {MAX_FIELD:,} characters — "
            "is this the right file?"
        )
    return _one_line(f"{name} row {row}: cannot be parsed as CSV ({exc}) — check the quoting")


def parse_block(name: str, block: str, first_line: int, delimiter: str, width: int) -> list[Row]:
    """Parse one block into (row number, cells), with the streaming reader's checks."""
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(block), delimiter=delimiter)
    rows: list[Row] = []
    append = rows.append
    start = first_line
    try:
        for row in reader:
            if len(row) == width:
                append((start, row))
            elif not is_blank(row):
                raise ragged_row(name, start, len(row), width)
            start = first_line + reader.line_num
    except csv.Error as exc:
        raise csv_failure(name, start, exc) from None
    return rows
