"""Open a contact file (CSV/TSV, gzip, XLSX or JSON Lines) and stream its rows as strings."""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import hashlib
import io
import itertools
import json
import re
import zlib
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from leadsift.contacts.csvblocks import MAX_FIELD, CsvStream, csv_failure, is_blank, ragged_row
from leadsift.errors import ImportFileError

_BLOCK = 1 << 20
_SAMPLE = 64 * 1024
_DELIMITERS = ",;\t|"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
# PNG, JPEG, GIF, PDF, ELF, 7z, RAR, xz, zstd, OLE: a small such file may hold no NUL byte.
_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"%PDF",
    b"\x7fELF",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\xfd7zXZ",
    b"\x28\xb5\x2f\xfd",
    _OLE_MAGIC,
)
_BINARY = ": not a text, CSV, XLSX or JSON Lines file (binary content)"
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f]")
_QUOTED = re.compile('"[^"]*"')
_ONE_OBJECT = " — each line must be one JSON object"
_JSON_CELL: dict[type, Callable[[Any], str]] = {
    str: str,
    int: str,
    float: str,
    bool: lambda b: str(b).lower(),
    type(None): lambda _: "",
}

FileFormat = Literal["csv", "xlsx", "jsonl"]
Row = tuple[int, list[str]]
Opened = tuple["TableInfo", Iterator[Row], Callable[[], int], "CsvStream | None"]


@dataclass(frozen=True)
class TableInfo:
    """What was opened: format, encoding, delimiter, headers and the file's fingerprint."""

    path: Path
    file_format: FileFormat
    encoding: str | None
    delimiter: str | None
    headers: tuple[str, ...]
    sha256: str
    size_bytes: int


class TableReader:
    """Streams the data rows of an opened table; a context manager that closes the file."""

    def __init__(self, opened: Opened, resources: contextlib.ExitStack) -> None:
        self.info, self._rows, self._progress, self.csv_stream = opened
        self._resources = resources
        self._read = 0

    def rows(self) -> Iterator[Row]:
        """Yield (row_number, cells) for each data row; the rows can be iterated once."""
        return self._rows

    def bytes_read(self) -> int:
        """Return the raw bytes consumed from disk so far (for a progress bar)."""
        with contextlib.suppress(ValueError):  # the file is closed: keep the last figure
            self._read = max(self._read, min(self._progress(), self.info.size_bytes))
        return self._read

    def close(self) -> None:
        """Close the file and stop the row stream."""
        self.bytes_read()
        self._resources.close()

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_table(path: Path, *, encoding: str | None = None) -> TableReader:
    """Open a contact file, validate it eagerly and return a reader over its data rows."""
    path = Path(path)
    magic, sha256 = _check_file(path)
    with contextlib.ExitStack() as stack:
        if path.suffix.lower() == ".xlsx" or magic.startswith(b"PK\x03\x04"):
            # openpyxl is loaded only when an XLSX file is imported (it costs 0.2 s at start-up).
            from leadsift.contacts.reading_xlsx import open_xlsx  # noqa: PLC0415

            opened = open_xlsx(path, sha256, stack)
        else:
            opened = _open_text(path, magic.startswith(b"\x1f\x8b"), encoding, sha256, stack)
        return TableReader(opened, stack.pop_all())


def _err(name: str, detail: str) -> ImportFileError:
    return ImportFileError(f"{name}{detail}".replace("\r", " ").replace("\n", " "))


def _check_file(path: Path) -> tuple[bytes, str]:
    name = path.name
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not a file" if path.exists() else "no such file"
        raise _err(name, f": {what} in {path.absolute().parent} — give the path of the file")
    try:
        with path.open("rb") as raw:
            magic = raw.read(8)
            raw.seek(0)
            sha256 = hashlib.file_digest(raw, "sha256").hexdigest()
    except OSError as exc:
        raise _err(name, f": cannot be read ({exc.strerror}) — check its permissions") from None
    if not magic:
        raise _err(name, ": the file is empty — export the contacts again")
    return magic, sha256


def _check_headers(where: str, headers: tuple[str, ...]) -> None:
    seen: dict[str, int] = {}
    for number, header in enumerate(headers, 1):
        if not header:
            raise _err(where, f": column {number} has no name — name it or delete the column")
        if header in seen:
            raise _err(
                where,
                f": columns {seen[header]} and {number} are both named {header!r}"
                " — rename one of them",
            )
        seen[header] = number


def _head_rows(name: str, records: Iterator[Row]) -> tuple[Row, Row]:
    header, first = next(records, None), next(records, None)
    if header is None:
        raise _err(name, ": the file is empty (no header row) — export the contacts again")
    if first is None:
        raise _err(name, ": has a header row but no data rows — nothing to import")
    return header, first


def _open(
    path: Path, gz: bool, codec: str, stack: contextlib.ExitStack
) -> tuple[io.BufferedReader, io.BufferedReader | gzip.GzipFile, io.TextIOWrapper]:
    """Open the file: the raw bytes, the decompressed bytes and the text."""
    raw = stack.enter_context(path.open("rb"))
    binary = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")) if gz else raw
    # In the stack, also to keep it referenced: collecting a TextIOWrapper closes its buffer.
    return raw, binary, stack.enter_context(io.TextIOWrapper(binary, encoding=codec, newline=""))


def _blocks(path: Path, gz: bool) -> Generator[bytes, None, None]:
    with contextlib.ExitStack() as stack:
        stream = _open(path, gz, "latin-1", stack)[1]
        try:
            while block := stream.read(_BLOCK):
                yield block
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _err(path.name, f": corrupt gzip file ({exc}) — compress it again") from None


def _scan(path: Path, gz: bool, codec: str) -> tuple[bytes, bool, int | None]:
    """Return the first 64 KB, whether any byte is not a space, the first byte codec rejects."""
    decoder = codecs.getincrementaldecoder(codec)()
    head, has_text, offset, pending = b"", False, 0, 0
    with contextlib.closing(_blocks(path, gz)) as blocks:
        try:
            for block in itertools.chain(blocks, [b""]):
                head = head or block[:_SAMPLE]
                has_text = has_text or (len(block) > 0 and not block.isspace())
                pending = len(decoder.getstate()[0])  # bytes of a character split across blocks
                decoder.decode(block, final=not block)
                offset += len(block)
        except UnicodeDecodeError as exc:
            return head, True, offset - pending + exc.start
    return head, has_text, None


def _encoding(path: Path, gz: bool, requested: str | None) -> tuple[bytes, str]:
    """Choose the file's encoding, raising if its content is not usable text."""
    name = path.name
    try:
        codec = codecs.lookup(requested or "utf-8").name
    except LookupError:
        raise _err(name, f": unknown encoding {requested!r} — try utf-8 or cp1252") from None
    head, has_text, bad = _scan(path, gz, codec)
    if requested is None and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _err(name, ": encoded as UTF-16 — re-save as UTF-8 or pass --encoding utf-16")
    if head.startswith(_BINARY_MAGIC):
        hint = " — an old .xls workbook? Save it as .xlsx or CSV" * head.startswith(_OLE_MAGIC)
        raise _err(name, _BINARY + hint)
    # Latin-1 maps bytes one to one, so without an explicit encoding this counts raw bytes.
    text = head.decode(codec if requested else "latin-1", errors="replace")
    if "\x00" in text or len(_CONTROL.findall(text)) > len(text) // 100 + 2:
        raise _err(name, _BINARY)
    if not has_text:
        raise _err(name, ": the file is empty (only blank lines) — export the contacts again")
    if bad is None:
        bom = codec == "utf-8" and head.startswith(codecs.BOM_UTF8)
        return head, "utf-8-sig" if bom else codec
    if requested is None and _scan(path, gz, "cp1252")[2] is None:
        return head, "cp1252"
    tried = f"not valid {codec}" if requested else "not UTF-8 or Windows-1252"
    with contextlib.ExitStack() as stack:  # an error path: reading the prefix at once is fine
        row = 1 + _open(path, gz, "latin-1", stack)[1].read(bad).count(b"\n")
    raise _err(
        name,
        f": undecodable bytes at row {row} (byte offset {bad}): {tried} — "
        "re-save as UTF-8 or pass --encoding",
    )


def _open_text(
    path: Path, gz: bool, requested: str | None, sha256: str, stack: contextlib.ExitStack
) -> Opened:
    head, codec = _encoding(path, gz, requested)
    if len(head) == _SAMPLE and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # whole lines: a cut-off one misleads the sniffer
    sample = head.decode(codec, errors="replace")
    delimiter, stem = None, path.name.lower().removesuffix(".gz")
    if stem.endswith((".jsonl", ".ndjson")) or sample.lstrip("\ufeff \t\r\n")[:1] == "{":
        fmt: FileFormat = "jsonl"
        keys = _jsonl_keys(path, gz, codec)
        raw, _, text = _open(path, gz, codec, stack)
        headers = tuple(key.strip() for key in keys)
        _check_headers(path.name, headers)
        lines = enumerate(_json_lines(path.name, text), 2)
        rows: Iterator[Row] = ((i, _json_row(path.name, n, obj, keys)) for i, (n, obj) in lines)
    else:
        fmt, delimiter = "csv", _delimiter(sample)
        raw, _, text = _open(path, gz, codec, stack)
        headers, rows, stream = _csv(path.name, text, delimiter)
        info = TableInfo(path, fmt, codec, delimiter, headers, sha256, path.stat().st_size)
        return info, rows, raw.tell, stream
    info = TableInfo(path, fmt, codec, delimiter, headers, sha256, path.stat().st_size)
    return info, rows, raw.tell, None


def _delimiter(sample: str) -> str:
    """Sniff the delimiter, trusting the header line when the sniffer fails or disagrees."""
    header = next((line for line in sample.splitlines() if line.strip()), "")
    counts = {d: _QUOTED.sub("", header).count(d) for d in _DELIMITERS}
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    # max: on a tie, the earlier candidate wins
    return sniffed if counts.get(sniffed, 0) > 0 else max(_DELIMITERS, key=lambda d: counts[d])


def _records(name: str, reader: Any) -> Iterator[Row]:
    """Yield the non-blank records with the line each starts on (for the first two only)."""
    start = reader.line_num + 1
    try:
        for row in reader:
            if not is_blank(row):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise csv_failure(name, start, exc) from None


def _csv(
    name: str, text: IO[str], delimiter: str
) -> tuple[tuple[str, ...], Iterator[Row], CsvStream]:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(text, delimiter=delimiter)
    header, first = _head_rows(name, _records(name, reader))
    headers = tuple(cell.strip() for cell in header[1])
    _check_headers(f"{name} row {header[0]}", headers)
    stream = CsvStream(name, text, first, len(headers), delimiter, reader.line_num + 1)
    return headers, _csv_rows(name, reader, len(headers), first), stream


def _csv_rows(name: str, reader: Any, width: int, first: Row) -> Iterator[Row]:
    end = first[0] - 1  # the line before the record
    try:
        # The hot loop (a million rows): one length check per row, anything else on mismatch.
        for row in itertools.chain([first[1]], reader):
            if len(row) == width:
                yield end + 1, row
            elif not is_blank(row):
                raise ragged_row(name, end + 1, len(row), width)
            end = reader.line_num
    except csv.Error as exc:
        raise csv_failure(name, end + 1, exc) from None


def _json_lines(name: str, text: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line, bounding memory on huge lines."""
    for number, line in enumerate(iter(lambda: text.readline(MAX_FIELD + 1), ""), 1):
        if len(line) > MAX_FIELD:
            raise _err(
                name,
                f" line {number}: longer than {MAX_FIELD:,} characters — is this the right file?",
            )
        if not line.strip():
            continue
        try:
            obj = json.loads(line.rstrip("\r\n"))  # so that the error's column is on this line
        except json.JSONDecodeError as exc:
            why = f"{exc.msg} at column {exc.colno}"
            raise _err(name, f" line {number}: not valid JSON ({why}){_ONE_OBJECT}") from None
        if not isinstance(obj, dict):
            raise _err(name, f" line {number}: a JSON {type(obj).__name__}{_ONE_OBJECT}")
        yield number, obj


def _json_row(name: str, number: int, obj: dict[str, Any], keys: Collection[str]) -> list[str]:
    try:
        return [_JSON_CELL[type(value)](value) for value in map(obj.get, keys)]
    except KeyError:  # a dict or a list
        key = next(key for key in keys if type(obj.get(key)) not in _JSON_CELL)
        raise _err(
            name,
            f" line {number}, key {key!r}: nested objects and lists are not "
            "supported — flatten them into separate keys",
        ) from None


def _jsonl_keys(path: Path, gz: bool, codec: str) -> tuple[str, ...]:
    """Pre-pass: validate every line and collect the keys in first-seen order."""
    keys: dict[str, None] = {}
    with contextlib.ExitStack() as stack:
        for number, obj in _json_lines(path.name, _open(path, gz, codec, stack)[2]):
            _json_row(path.name, number, obj, obj)
            keys.update(dict.fromkeys(obj))
    if not keys:
        raise _err(path.name, ": has no JSON object with keys — nothing to import")
    return tuple(keys)
