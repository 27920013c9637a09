"""Opening contact files (CSV, gzip, XLSX, JSON Lines) and streaming their rows strictly."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import time as clock
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from leadsift.contacts.reading import TableReader, open_table
from leadsift.errors import ImportFileError

FRENCH_HEADER = "Prénom;Nom;Téléphone;Société"


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _read(path: Path, **options: str) -> tuple[TableReader, list[tuple[int, list[str]]]]:
    with open_table(path, **options) as reader:
        return reader, list(reader.rows())


def _error(path: Path, **options: str) -> str:
    """The one-line message of the ImportFileError raised by opening or reading PATH."""
    with pytest.raises(ImportFileError) as caught, open_table(path, **options) as reader:
        list(reader.rows())
    message = str(caught.value)
    assert message.startswith(path.name), message
    assert "\n" not in message and "\r" not in message
    return message


# --- CSV dialects -----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    lines = [["email", "first name", "city"], ["a@x.fr", "Ann", "Lyon"], ["b@x.fr", "", "Paris"]]
    path = _write(tmp_path / "c.csv", "".join(delimiter.join(line) + "\n" for line in lines))
    reader, rows = _read(path)
    assert reader.info.delimiter == delimiter
    assert reader.info.file_format == "csv"
    assert reader.info.headers == ("email", "first name", "city")
    assert rows == [(2, ["a@x.fr", "Ann", "Lyon"]), (3, ["b@x.fr", "", "Paris"])]


def test_a_single_column_file_needs_no_delimiter(tmp_path: Path) -> None:
    reader, rows = _read(_write(tmp_path / "emails.txt", "email\na@x.fr\nb@x.fr\n"))
    assert reader.info.headers == ("email",)
    assert rows == [(2, ["a@x.fr"]), (3, ["b@x.fr"])]


def test_quoted_delimiter_and_newline_stay_in_the_cell(tmp_path: Path) -> None:
    path = _write(tmp_path / "q.csv", 'email;notes\na@x.fr;"Lyon; 2e étage\nporte B"\nb@x.fr;ok\n')
    reader, rows = _read(path)
    assert reader.info.delimiter == ";"
    # Row numbers are the line each record starts on, so an editor finds it.
    assert rows == [(2, ["a@x.fr", "Lyon; 2e étage\nporte B"]), (4, ["b@x.fr", "ok"])]


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = _write(tmp_path / "w.csv", b'email,notes\r\na@x.fr,"one\r\ntwo"\r\nb@x.fr,x\r\n')
    _, rows = _read(path)
    assert rows == [(2, ["a@x.fr", "one\r\ntwo"]), (4, ["b@x.fr", "x"])]


def test_headers_are_stripped_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.csv", "\n email , name \n\na@x.fr,Ann\n   \n\nb@x.fr,Bob\n\n")
    reader, rows = _read(path)
    assert reader.info.headers == ("email", "name")
    assert rows == [(4, ["a@x.fr", "Ann"]), (7, ["b@x.fr", "Bob"])]


def test_row_numbers_count_from_the_header_as_row_1(tmp_path: Path) -> None:
    path = _write(tmp_path / "n.csv", "email\n" + "".join(f"p{i}@x.fr\n" for i in range(100)))
    _, rows = _read(path)
    assert [number for number, _ in rows] == list(range(2, 102))
    assert rows[-1] == (101, ["p99@x.fr"])


# --- encodings --------------------------------------------------------------------------------


def test_utf8_without_bom(tmp_path: Path) -> None:
    reader, rows = _read(_write(tmp_path / "u.csv", f"{FRENCH_HEADER}\nZoé;Noël;06;Café\n"))
    assert reader.info.encoding == "utf-8"
    assert reader.info.headers == ("Prénom", "Nom", "Téléphone", "Société")
    assert rows == [(2, ["Zoé", "Noël", "06", "Café"])]


def test_utf8_with_bom(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + f"{FRENCH_HEADER}\nZoé;Noël;06;Café\n".encode()
    reader, rows = _read(_write(tmp_path / "bom.csv", data))
    assert reader.info.encoding == "utf-8-sig"
    assert reader.info.headers[0] == "Prénom"  # no BOM glued to the first name
    assert rows == [(2, ["Zoé", "Noël", "06", "Café"])]


def test_windows_1252_french_headers(tmp_path: Path) -> None:
    data = f"{FRENCH_HEADER}\r\nJérôme;Lefèvre;06 12;Boulangerie Lefèvre – Lyon\r\n"
    reader, rows = _read(_write(tmp_path / "excel.csv", data.encode("cp1252")))
    assert reader.info.encoding == "cp1252"
    assert reader.info.delimiter == ";"
    assert reader.info.headers == ("Prénom", "Nom", "Téléphone", "Société")
    assert rows == [(2, ["Jérôme", "Lefèvre", "06 12", "Boulangerie Lefèvre – Lyon"])]


def test_explicit_encoding_skips_detection(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.csv", "nom\nJérôme\n".encode("latin-1"))
    reader, rows = _read(path, encoding="latin-1")
    assert reader.info.encoding == "iso8859-1"
    assert rows == [(2, ["Jérôme"])]


def test_explicit_encoding_that_does_not_fit(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.csv", "nom\nAnn\nJérôme\n".encode("latin-1"))
    message = _error(path, encoding="utf-8")
    assert "undecodable bytes at row 3 (byte offset 9)" in message and "--encoding" in message


def test_unknown_encoding(tmp_path: Path) -> None:
    assert "unknown encoding 'klingon'" in _error(
        _write(tmp_path / "k.csv", "a\n1\n"), encoding="klingon"
    )


def test_utf16_is_recognised_and_readable_when_asked(tmp_path: Path) -> None:
    path = _write(tmp_path / "unicode.txt", "email\ta\nx@y.fr\tb\n".encode("utf-16"))
    assert "UTF-16" in _error(path)
    reader, rows = _read(path, encoding="utf-16")
    assert reader.info.delimiter == "\t"
    assert rows == [(2, ["x@y.fr", "b"])]


# --- gzip, XLSX, JSON Lines -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["contacts.csv.gz", "contacts.csv"])
def test_gzip_is_read_directly_whatever_the_name(tmp_path: Path, name: str) -> None:
    data = gzip.compress(f"{FRENCH_HEADER}\nZoé;Noël;06;Café\n".encode("cp1252"))
    path = _write(tmp_path / name, data)
    reader, rows = _read(path)
    assert (reader.info.file_format, reader.info.encoding) == ("csv", "cp1252")
    assert rows == [(2, ["Zoé", "Noël", "06", "Café"])]
    assert reader.info.sha256 == hashlib.sha256(data).hexdigest()  # of the compressed bytes
    assert reader.info.size_bytes == len(data) == reader.bytes_read()


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = gzip.compress(b"email\n" + b"a@x.fr\n" * 1000)
    assert "corrupt gzip" in _error(_write(tmp_path / "cut.csv.gz", data[: len(data) // 2]))


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_xlsx_cells_become_strings(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "c.xlsx",
        [
            ["email", " Phone ", "Born", "Seen", "Score", "Ratio", "VIP", "Notes", None],
            [
                "a@x.fr",
                33612345678,
                date(1990, 4, 3),
                datetime(2024, 3, 1, 14, 30),  # noqa: DTZ001 — Excel datetimes have no time zone
                3.0,
                0.25,
                True,
                None,
                None,
            ],
            [None] * 9,
            ["b@x.fr", "06 12", "1990-04-03", None, -2, 1.5, False, " spaced ", None],
        ],
    )
    reader, rows = _read(path)
    info = reader.info
    assert (info.file_format, info.encoding, info.delimiter) == ("xlsx", None, None)
    assert info.headers == ("email", "Phone", "Born", "Seen", "Score", "Ratio", "VIP", "Notes")
    assert rows == [
        (
            2,
            ["a@x.fr", "33612345678", "1990-04-03", "2024-03-01T14:30:00", "3", "0.25", "true", ""],
        ),
        (4, ["b@x.fr", "06 12", "1990-04-03", "", "-2", "1.5", "false", " spaced "]),
    ]
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert reader.bytes_read() == info.size_bytes


def test_xlsx_is_recognised_by_its_content(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "export.dat", [["email"], ["a@x.fr"]])
    reader, rows = _read(path)
    assert reader.info.file_format == "xlsx" and rows == [(2, ["a@x.fr"])]


def test_xlsx_value_without_header(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "x.xlsx",
        [["email", "name"], ["a@x.fr", "Ann"], ["b@x.fr", "Bob", None, "stray"]],
    )
    assert "row 3: column 4 has a value but no header" in _error(path)


def test_corrupt_xlsx(tmp_path: Path) -> None:
    good = _workbook(tmp_path / "good.xlsx", [["email"], ["a@x.fr"]]).read_bytes()
    assert "not a valid XLSX workbook" in _error(_write(tmp_path / "cut.xlsx", good[:300]))
    assert "not a valid XLSX workbook" in _error(_write(tmp_path / "text.xlsx", "email\na@x\n"))


def test_jsonl_headers_are_the_union_of_keys(tmp_path: Path) -> None:
    lines = [
        {"email": "a@x.fr", "age": 31, "vip": True},
        {},
        {"email": "b@x.fr", "score": 2.5, "vip": None, "city": "Lyon"},
    ]
    text = (
        "\n".join(json.dumps(line) for line in lines[:1])
        + "\n\n"
        + "\n".join(json.dumps(line) for line in lines[1:])
        + "\n"
    )
    reader, rows = _read(_write(tmp_path / "c.jsonl", text))
    assert (reader.info.file_format, reader.info.delimiter) == ("jsonl", None)
    assert reader.info.headers == ("email", "age", "vip", "score", "city")
    assert rows == [
        (2, ["a@x.fr", "31", "true", "", ""]),
        (3, ["", "", "", "", ""]),
        (4, ["b@x.fr", "", "", "2.5", "Lyon"]),
    ]


def test_jsonl_is_recognised_by_its_first_brace(tmp_path: Path) -> None:
    reader, rows = _read(_write(tmp_path / "export.txt", '\n  {"email": "a@x.fr"}\n'))
    assert reader.info.file_format == "jsonl" and rows == [(2, ["a@x.fr"])]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"email": "b@x.fr"', "line 3: not valid JSON"),
        ('["b@x.fr"]', "line 3: a JSON list — each line must be one JSON object"),
        ('{"email": "b@x.fr", "address": {"city": "Lyon"}}', "line 3, key 'address': nested"),
        ('{"email": "b@x.fr", "tags": ["a"]}', "line 3, key 'tags': nested"),
    ],
)
def test_bad_jsonl_lines(tmp_path: Path, line: str, expected: str) -> None:
    path = _write(tmp_path / "bad.ndjson", '{"email": "a@x.fr"}\n\n' + line + "\n")
    assert expected in _error(path)


# --- bad input --------------------------------------------------------------------------------


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "missing.csv")
    (tmp_path / "exports").mkdir()
    assert "is a folder" in _error(tmp_path / "exports")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty"),
        (b"  \n\r\n\t\n", "the file is empty"),
        (b"\xef\xbb\xbf\n\n", "the file is empty"),
        (b"email,phone\n", "has a header row but no data rows"),
        (b"email,phone\n\n\n", "has a header row but no data rows"),
    ],
)
def test_nothing_to_import(tmp_path: Path, data: bytes, expected: str) -> None:
    assert expected in _error(_write(tmp_path / "contacts.csv", data))


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 64,
        random.Random(7).randbytes(300),
        b"\x89PNG\r\n\x1a\n" + b"IHDR" * 10,
        b"email,name\na@x.fr,Ann\x00\n",
    ],
)
def test_binary_content(tmp_path: Path, data: bytes) -> None:
    message = _error(_write(tmp_path / "contacts.csv", data))
    assert message == "contacts.csv: not a text, CSV, XLSX or JSON Lines file (binary content)"


def test_old_xls_gets_a_hint(tmp_path: Path) -> None:
    path = _write(tmp_path / "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert "binary content) — an old .xls workbook?" in _error(path)


def test_undecodable_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "mixed.csv", b"email,name\na@x.fr,Ann\nb@x.fr,\x81\x8d\x8f\n")
    message = _error(path)
    assert message == (
        "mixed.csv: undecodable bytes at row 3 (byte offset 29): not UTF-8 or "
        "Windows-1252 — re-save as UTF-8 or pass --encoding"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"email,name\na@x.fr,Ann\nb@x.fr,Bob,extra\n", "row 3: 3 cells but the header has 2"),
        (b"email;name;city\na@x.fr;Ann;Lyon\nb@x.fr;Bob\n", "row 3: 2 cells but the header has 3"),
        (b"email;name;city\na@x.fr;Ann\n", "row 2: 2 cells but the header has 3"),
    ],
)
def test_ragged_rows(tmp_path: Path, data: bytes, expected: str) -> None:
    message = _error(_write(tmp_path / "ragged.csv", data))
    assert expected in message and "check the delimiter or quoting" in message


def test_duplicate_and_empty_header_names(tmp_path: Path) -> None:
    duplicate = _write(tmp_path / "dup.csv", "a,b,email,c,d,e,email\n1,2,3,4,5,6,7\n")
    assert "dup.csv row 1: columns 3 and 7 are both named 'email'" in _error(duplicate)
    empty = _write(tmp_path / "empty.csv", "a;b;c; ;e\n1;2;3;4;5\n")
    assert "empty.csv row 1: column 4 has no name" in _error(empty)
    jsonl = _write(tmp_path / "keys.jsonl", '{"email": 1, " email": 2}\n')
    assert "columns 1 and 2 are both named 'email'" in _error(jsonl)


@pytest.mark.slow
def test_a_50_mb_line_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(b"email,notes\na@x.fr,short\nb@x.fr,")
        handle.write(b"x" * 50_000_000)
        handle.write(b"\n")
    started = clock.perf_counter()
    with open_table(path) as reader:
        rows = reader.rows()
        assert next(rows) == (2, ["a@x.fr", "short"])
        with pytest.raises(ImportFileError) as caught:
            next(rows)
    assert str(caught.value) == (
        "huge.csv row 3: a value is longer than 10,000,000 characters — is this the right file?"
    )
    assert clock.perf_counter() - started < 5


# --- fingerprint and progress -----------------------------------------------------------------


def test_sha256_and_bytes_read_grow_to_the_file_size(tmp_path: Path) -> None:
    line = "{i}@example.fr;Prénom {i};Nom;06 12 34 56 {i:02d};Lyon\n"
    text = "email;first;last;phone;city\n" + "".join(line.format(i=i) for i in range(60_000))
    path = _write(tmp_path / "big.csv", text)
    with open_table(path) as reader:
        assert reader.info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert reader.info.size_bytes == path.stat().st_size
        seen = [reader.bytes_read()]
        for number, cells in reader.rows():
            if number % 5_000 == 0:
                seen.append(reader.bytes_read())
                assert len(cells) == 5
        seen.append(reader.bytes_read())
    assert seen == sorted(seen) and len(set(seen)) > 5
    assert seen[0] < reader.info.size_bytes // 2
    assert seen[-1] == reader.bytes_read() == reader.info.size_bytes  # also once closed
