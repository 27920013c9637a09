"""XLSX sheets as rows of strings (openpyxl, read-only), for the contact import."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

from openpyxl import load_workbook

from leadsift.contacts.reading import Opened, Row, TableInfo, _check_headers, _err, _head_rows


def _xlsx_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, datetime) and value.time() == time():
        value = value.date()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)  # str, int, non-integral float (shortest repr), Decimal, timedelta


def _xlsx_records(name: str, values: Iterator[tuple[object, ...]]) -> Iterator[Row]:
    """Yield (sheet row number, cells) for every row with a value, cells converted to str."""
    try:
        for number, row in enumerate(values, 1):
            cells = [_xlsx_cell(value) for value in row]
            if any(cells):
                yield number, cells
    except Exception as exc:  # openpyxl raises many types on a corrupt sheet; all mean the same
        raise _err(
            name,
            f": the worksheet is corrupt ({type(exc).__name__}: {exc}) — re-save it from Excel",
        ) from None


def _xlsx_rows(name: str, records: Iterator[Row], width: int, done: list[int]) -> Iterator[Row]:
    """Pad each row to the header's width; a value beyond the last named column is an error."""
    for number, cells in records:
        done[0] = number
        extra = [column for column, c in enumerate(cells[width:], width + 1) if c.strip()]
        if extra:
            raise _err(
                name,
                f" row {number}: column {extra[0]} has a value but no header — "
                "name the column or clear it",
            )
        yield number, (cells + [""] * width)[:width]
    done[0] = -1


def open_xlsx(path: Path, sha256: str, stack: contextlib.ExitStack) -> Opened:
    name = path.name
    try:
        workbook = load_workbook(
            stack.enter_context(path.open("rb")), read_only=True, data_only=True
        )
    except Exception as exc:  # zipfile, XML and openpyxl errors all mean "not a usable workbook"
        raise _err(
            name,
            f": not a valid XLSX workbook ({type(exc).__name__}: {exc}) — "
            "re-save it from Excel as .xlsx or CSV",
        ) from None
    stack.callback(workbook.close)
    if not workbook.worksheets:
        raise _err(name, ": the workbook has no worksheet — export the contacts again")
    sheet = workbook.worksheets[0]
    total = sheet.max_row or 0
    sheet.reset_dimensions()  # some writers store wrong dimensions, which would truncate rows
    records = _xlsx_records(name, sheet.iter_rows(values_only=True))
    header, first = _head_rows(name, records)
    cells = header[1]
    while not cells[-1].strip():  # trailing empty columns
        cells.pop()
    headers = tuple(cell.strip() for cell in cells)
    _check_headers(f"{name} row {header[0]}", headers)
    done = [0]
    rows = _xlsx_rows(name, itertools.chain([first], records), len(headers), done)
    size = path.stat().st_size

    def progress() -> int:  # the share of the sheet's rows read, when its dimension says
        if done[0] < 0:
            return size
        return size * done[0] // total if total else 0

    info = TableInfo(path, "xlsx", None, None, headers, sha256, size)
    return info, rows, progress, None
