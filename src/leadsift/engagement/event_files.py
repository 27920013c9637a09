"""Opening an event file: CSV/XLSX through the contact import's strict streaming readers, JSON
Lines line by line, where a malformed line is that row's error rather than the file's.

Rows come out as (row number, raw event or RowError): the number of a CSV row is its line in
the file (the header is row 1), of an XLSX row its sheet row, of a JSON Lines row its line.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from leadsift.contacts.reading import open_table
from leadsift.engagement.event_rows import (
    CsvRows,
    Defaults,
    EventColumns,
    PropertyTypes,
    RowError,
    json_event,
)
from leadsift.errors import ImportFileError

EventRow = tuple[int, dict[str, Any] | RowError]
MAX_LINE: Final = 10_000_000
# Rows read ahead to settle the property columns' types; when they settle within it (a file
# whose properties are text), the file is read once, else a second pass reads it all.
_TYPE_LOOKAHEAD: Final = 10_000
_HEAD: Final = 64 * 1024
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ONE_OBJECT: Final = " — each line must be one JSON object (an event)"


@dataclass(frozen=True)
class EventFileInfo:
    """What was opened."""

    name: str
    file_format: str  # csv, xlsx, jsonl
    encoding: str | None
    delimiter: str | None
    size_bytes: int


class EventFile:
    """The rows of an opened event file, as raw events; closes the file on exit."""

    def __init__(
        self,
        info: EventFileInfo,
        rows: Iterator[EventRow],
        progress: Callable[[], int],
        resources: contextlib.ExitStack,
    ) -> None:
        self.info = info
        self.rows = rows
        self._progress = progress
        self._resources = resources

    def bytes_read(self) -> int:
        """Raw bytes consumed so far (for a progress bar)."""
        with contextlib.suppress(ValueError):  # closed: the whole file was read
            return min(self._progress(), self.info.size_bytes)
        return self.info.size_bytes

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._resources.close()


def _err(path: Path, detail: str) -> ImportFileError:
    return ImportFileError(f"{path.name}{detail}".replace("\r", " ").replace("\n", " "))


def _check_path(path: Path) -> int:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not a file" if path.exists() else "no such file"
        raise _err(path, f": {what} in {path.absolute().parent} — give the path of the file")
    size = path.stat().st_size
    if size == 0:
        raise _err(path, ": the file is empty — export the events again")
    return size


def _raw_stream(
    path: Path, stack: contextlib.ExitStack
) -> tuple[io.BufferedIOBase, io.BufferedReader]:
    """The file's bytes (decompressed when gzip) and the raw file, for progress."""
    raw = stack.enter_context(path.open("rb"))
    gz = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    if not gz:
        return raw, raw
    return stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")), raw


def _is_json_lines(path: Path) -> bool:
    stem = path.name.lower().removesuffix(".gz")
    if stem.endswith((".jsonl", ".ndjson")):
        return True
    with contextlib.ExitStack() as stack:
        try:
            head = _raw_stream(path, stack)[0].read(_HEAD)
        except (OSError, EOFError, zlib.error) as exc:
            raise _err(path, f": cannot be read ({exc}) — check the file") from None
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def open_event_file(
    path: Path, *, encoding: str | None = None, defaults: Defaults | None = None
) -> EventFile:
    """Open an event file, check it eagerly and return its rows as raw events."""
    path = Path(path)
    size = _check_path(path)
    defaults = defaults or Defaults()
    if _is_json_lines(path):
        return _open_json_lines(path, size, encoding, defaults)
    return _open_table(path, encoding, defaults)


# --- CSV and XLSX -----------------------------------------------------------------------------


def _open_table(path: Path, encoding: str | None, defaults: Defaults) -> EventFile:
    stack = contextlib.ExitStack()
    try:
        reader = stack.enter_context(open_table(path, encoding=encoding))
        table = reader.info
        columns = EventColumns.plan(path.name, table.headers)
        types = PropertyTypes(columns)
        rows: Iterator[tuple[int, list[str]]] = reader.rows()
        ahead = list(_observe(types, rows, _TYPE_LOOKAHEAD))
        if types.settled or len(ahead) < _TYPE_LOOKAHEAD:  # settled, or the whole file seen
            rows = itertools.chain(ahead, rows)
        else:
            # Every value of an untyped column counts: read to the end, then start again.
            for _ in _observe(types, rows, None):
                pass
            stack.close()
            reader = stack.enter_context(open_table(path, encoding=encoding))
            rows = reader.rows()
        mapper = CsvRows(columns, types.types, defaults)
        events = ((number, mapper.event(cells)) for number, cells in rows)
        info = EventFileInfo(
            path.name, table.file_format, table.encoding, table.delimiter, table.size_bytes
        )
        return EventFile(info, events, reader.bytes_read, stack)
    except BaseException:
        stack.close()
        raise


def _observe(
    types: PropertyTypes, rows: Iterator[tuple[int, list[str]]], limit: int | None
) -> Iterator[tuple[int, list[str]]]:
    """Yield rows while typing them, up to LIMIT rows or until every type is settled."""
    for count, row in enumerate(rows, 1):
        types.observe(row[1])
        yield row
        if types.settled or (limit is not None and count >= limit):
            return


# --- JSON Lines -------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _json_object(line: bytes, encoding: str | None) -> dict[str, Any] | RowError:
    try:
        text: str | bytes = line if encoding is None else line.decode(encoding).lstrip("\ufeff")
        obj = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        return RowError("malformed_json", "not UTF-8 text — re-save the file as UTF-8")
    except json.JSONDecodeError as exc:
        return RowError("malformed_json", f"not valid JSON ({exc.msg} at column {exc.colno})")
    except ValueError as exc:
        return RowError("malformed_json", f"not valid JSON ({exc}){_ONE_OBJECT}")
    if not isinstance(obj, dict):
        kind = "null" if obj is None else type(obj).__name__
        return RowError("malformed_json", f"a JSON {kind}, not an object{_ONE_OBJECT}")
    # Neither PostgreSQL text nor JSONB can hold a NUL character.
    if b"\\u0000" in line and _holds_nul(obj):
        return RowError("invalid_event", "a value holds a NUL character (\\u0000) — remove it")
    return obj


def _json_rows(
    path: Path, stream: io.BufferedIOBase, encoding: str | None, defaults: Defaults
) -> Iterator[EventRow]:
    try:
        for number, line in enumerate(iter(lambda: stream.readline(MAX_LINE + 1), b""), 1):
            if len(line) > MAX_LINE:
                raise _err(
                    path,
                    f" line {number}: longer than {MAX_LINE:,} bytes — is this the right file?",
                )
            if line.isspace():
                continue
            if b"\x00" in line:
                raise _err(
                    path,
                    f" line {number}: binary content (a NUL byte) — give a CSV or JSON Lines file",
                )
            found = _json_object(line, encoding)
            yield number, found if isinstance(found, RowError) else json_event(found, defaults)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _err(path, f": corrupt gzip file ({exc}) — compress it again") from None


def _open_json_lines(path: Path, size: int, encoding: str | None, defaults: Defaults) -> EventFile:
    stack = contextlib.ExitStack()
    try:
        stream, raw = _raw_stream(path, stack)
        rows = _json_rows(path, stream, encoding, defaults)
        first = next(rows, None)
        if first is None:
            raise _err(path, ": has no events (only blank lines) — export the events again")
        info = EventFileInfo(path.name, "jsonl", encoding or "utf-8", None, size)
        return EventFile(info, itertools.chain([first], rows), raw.tell, stack)
    except BaseException:
        stack.close()
        raise
