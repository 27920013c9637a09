"""Bad input: exit 1, one actionable line on stderr, nothing written; usage errors exit 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import run

CapSys = pytest.CaptureFixture[str]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _nothing_written(db_file: Path) -> None:
    if not db_file.exists():
        return
    with sqlite3.connect(db_file) as conn:
        for table in ("contacts", "import_batches", "consent_records", "attribute_definitions"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)  # noqa: S608


BAD_FILES = {
    "missing": (None, "missing.csv"),
    "empty": (b"", "empty.csv"),
    "header_only": (b"email,phone\n", "header_only.csv"),
    "binary": (bytes(range(256)) * 64, "binary.csv"),
    "undecodable": (b"email,name\na@x.fr,\x81\x8d\x8f\n", "undecodable.csv"),
    "too_many_cells": (b"email,name\na@x.fr,Ann\nb@x.fr,Bob,extra\n", "ragged.csv"),
    "too_few_cells": (b"email;name;city\na@x.fr;Ann;Lyon\nb@x.fr;Bob\n", "short.csv"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_exit_1_with_one_line(case: str, tmp_path: Path, capsys: CapSys) -> None:
    data, name = BAD_FILES[case]
    path = tmp_path / name
    if data is not None:
        _write(path, data)
    db_file = tmp_path / "w.db"
    result = run(capsys, "--db", f"sqlite:///{db_file}", "import", "contacts", str(path))
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and name in lines[0]
    assert "Traceback" not in result.err and result.out == ""
    if case.startswith("too_"):
        assert "row 3" in lines[0]
    _nothing_written(db_file)


def test_a_50_mb_line_is_refused(tmp_path: Path, capsys: CapSys) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(b"email,notes\na@x.fr,short\nb@x.fr,")
        handle.write(b"x" * 50_000_000)
        handle.write(b"\n")
    db_file = tmp_path / "w.db"
    result = run(capsys, "--db", f"sqlite:///{db_file}", "import", "contacts", str(path))
    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1
    assert "huge.csv" in result.err and "row 3" in result.err
    _nothing_written(db_file)


def test_map_to_unknown_field(tmp_path: Path, capsys: CapSys) -> None:
    path = _write(tmp_path / "c.csv", b"Mail,Nom\na@x.fr,Ann\n")
    db_file = tmp_path / "w.db"
    result = run(
        capsys,
        "--db",
        f"sqlite:///{db_file}",
        "--json",
        "import",
        "contacts",
        str(path),
        "--map",
        "Mail=emial",
    )
    assert result.code == 1
    assert "unknown field 'emial'" in result.err and "did you mean 'email'" in result.err
    assert result.json()["error"]["code"] == "invalid_input"  # --json: still one document
    _nothing_written(db_file)


def test_bad_region_and_bad_database_url(tmp_path: Path, capsys: CapSys) -> None:
    path = _write(tmp_path / "c.csv", b"email\na@x.fr\n")
    region = run(
        capsys,
        "--db",
        f"sqlite:///{tmp_path / 'w.db'}",
        "import",
        "contacts",
        str(path),
        "--default-region",
        "ZZ",
    )
    assert region.code == 1 and "--default-region" in region.err
    url = run(capsys, "--db", "mysql://nowhere/db", "import", "contacts", str(path))
    assert url.code == 1 and "unsupported database" in url.err
    folder = run(capsys, "--db", "sqlite:////no/such/folder/x.db", "contacts", "show", "1")
    assert folder.code == 1 and "does not exist" in folder.err
    pg = run(
        capsys, "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "contacts", "show", "1"
    )
    assert pg.code == 1 and "cannot open database" in pg.err and len(pg.err.splitlines()) == 1


def test_usage_errors_exit_2(tmp_path: Path, capsys: CapSys) -> None:
    assert run(capsys, "import", "contacts").code == 2
    assert run(capsys, "--no-such-option", "demo").code == 2
    assert run(capsys, "import", "undo", "not-a-number").code == 2


def test_unknown_contact_is_a_user_error(tmp_path: Path, capsys: CapSys) -> None:
    result = run(capsys, "--db", f"sqlite:///{tmp_path / 'w.db'}", "contacts", "show", "x@y.fr")
    assert result.code == 1 and "no contact matches 'x@y.fr'" in result.err


def test_output_paths_in_missing_folders_are_user_errors(tmp_path: Path, capsys: CapSys) -> None:
    db = ("--db", f"sqlite:///{tmp_path / 'w.db'}")
    source = _write(tmp_path / "c.csv", b"email\na@x.fr\n")
    missing = tmp_path / "no" / "such"
    cases = [
        ("contacts", "export", str(missing / "out.csv")),
        ("backup", str(missing / "b.db")),
        ("import", "contacts", str(source), "--rejects", str(missing / "r.csv")),
    ]
    for args in cases:
        result = run(capsys, *db, *args)
        assert result.code == 1, args
        assert "does not exist" in result.err and len(result.err.strip().splitlines()) == 1
    _nothing_written(tmp_path / "w.db")


def test_demo_dir_that_is_a_file_and_unknown_encoding(tmp_path: Path, capsys: CapSys) -> None:
    a_file = _write(tmp_path / "taken", b"")
    demo = run(capsys, "demo", "--dir", str(a_file))
    assert demo.code == 1 and "a file with that name exists" in demo.err
    source = _write(tmp_path / "c.csv", b"email\na@x.fr\n")
    result = run(
        capsys,
        "--db",
        f"sqlite:///{tmp_path / 'w.db'}",
        "import",
        "contacts",
        str(source),
        "--encoding",
        "klingon",
    )
    assert result.code == 1 and "c.csv" in result.err and "klingon" in result.err
