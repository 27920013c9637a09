"""`leadsift import events` and `leadsift events list` through the CLI, on both engines."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leadsift.config import Settings
from leadsift.db import Database
from leadsift.engagement.importing import EventImportOptions, import_events
from leadsift.engagement.models import Event
from leadsift.kit import cli as kit_cli
from tests.cli.helpers import Result, run

CapSys = pytest.CaptureFixture[str]

CONTACTS = (
    "email,phone,first_name,external_id\n"
    "ana@exemple.fr,06 12 34 56 78,Ana,crm-1\n"
    "bob@exemple.fr,07 55 44 33 22,Bob,crm-2\n"
)
EVENTS_HEADER = (
    "type,email,phone,contact_id,external_id,anonymous_id,occurred_at,path,idempotency_key"
)
# Each row says what the import must do with it (the header is row 1).
EVENTS_ROWS = [
    # row 2: stored, for ana by email
    "page_view,ana@exemple.fr,,,,,2025-01-10T10:00:00+01:00,/menu,",
    # row 3: stored, for ana by phone in another notation
    "page_view,,+33 6 12 34 56 78,,,,2025-01-10T10:05:00Z,/pricing,",
    # row 4: stored, for bob by contact id, with a key
    "form_submitted,,,{bob},,,2025-01-11T10:05:00Z,/form,k1",
    # row 5: stored, for bob by external id
    "email_clicked,,,,crm-2,,2025-01-12T08:00:00Z,,",
    # row 6: stored, an anonymous visitor nobody is linked to yet
    "page_view,,,,,visitor-0001,2025-01-12T09:00:00Z,/,",
    # row 7: unknown_contact
    "page_view,nobody@exemple.fr,,,,,2025-01-10T10:00:00Z,/x,",
    # row 8: a wrong type: contact_id 'abc'
    "page_view,,,abc,,,2025-01-10T10:00:00Z,/x,",
    # row 9: a naive timestamp
    "page_view,ana@exemple.fr,,,,,2025-01-10T10:00:00,/x,",
    # row 10: in the future
    "page_view,ana@exemple.fr,,,,,2099-01-10T10:00:00Z,/x,",
    # row 11: not a timestamp
    "page_view,ana@exemple.fr,,,,,yesterday,/x,",
    # row 12: key k1 again, for another event
    "form_submitted,,,{bob},,,2025-01-12T10:05:00Z,/other,k1",
    # row 13: an event type that is not a name
    "Page View,ana@exemple.fr,,,,,2025-01-10T10:00:00Z,/x,",
    # row 14: an email that is not one
    "page_view,ana@,,,,,2025-01-10T10:00:00Z,/x,",
]
EXPECTED_REJECTS = [
    ("7", "unknown_contact", "no contact has email nobody@exemple.fr; import the contact first"),
    ("8", "invalid_event", "contact_id: 'abc' is not a contact id (a whole number above 0)"),
    ("9", "invalid_event", "occurred_at: Input should have timezone info"),
    ("10", "occurred_in_future", "occurred_at 2099-01-10T10:00:00+00:00 is in the future"),
    ("11", "invalid_event", "occurred_at: Input should be a valid datetime or date"),
    ("12", "idempotency_conflict", "idempotency key 'k1' was already used for a different event"),
    ("13", "invalid_event", "type: String should match pattern"),
    ("14", "invalid_email", "email 'ana@' is not valid"),
]


def _lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


@pytest.fixture
def db(committed_db_url: str, tmp_path: Path, capsys: CapSys) -> tuple[str, str]:
    """A workspace holding ana (id 1) and bob (id 2)."""
    path = tmp_path / "contacts.csv"
    path.write_text(CONTACTS, encoding="utf-8")
    imported = run(capsys, "--db", committed_db_url, "import", "contacts", str(path))
    assert imported.code == 0, imported.err
    return ("--db", committed_db_url)


def _id(capsys: CapSys, db: tuple[str, str], ref: str) -> int:
    """A contact's id (PostgreSQL's sequences go on across tests)."""
    shown = run(capsys, *db, "--json", "contacts", "show", ref)
    assert shown.code == 0, shown.err
    return int(shown.json()["id"])


def _event_count(db: tuple[str, str]) -> int:
    database = Database(db[1], Settings()).ready()
    try:
        with database.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Event)).scalar_one()
    finally:
        database.dispose()


def _import(capsys: CapSys, db: tuple[str, str], path: Path, *options: str) -> Result:
    result = run(capsys, *db, "--json", "import", "events", str(path), *options)
    assert result.code == 0, result.err
    return result


def _timeline(capsys: CapSys, db: tuple[str, str], ref: str, *options: str) -> Any:
    listed = run(capsys, *db, "--json", "events", "list", "--contact", ref, *options)
    assert listed.code == 0, listed.err
    return listed.json()


def test_csv_import_stores_good_rows_reports_each_bad_row_and_reimports_as_duplicates(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    bob = _id(capsys, db, "bob@exemple.fr")
    path = tmp_path / "events.csv"
    rows = [row.replace("{bob}", str(bob)) for row in EVENTS_ROWS]
    path.write_text(_lines(EVENTS_HEADER, *rows), encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    summary = _import(capsys, db, path, "--rejects", str(rejects)).json()
    assert set(summary) >= {
        "file",
        "rows",
        "inserted",
        "duplicates",
        "rejected",
        "rejected_by_code",
        "contacts_rescored",
        "seconds",
        "dry_run",
    }
    assert {k: summary[k] for k in ("file", "rows", "inserted", "duplicates", "rejected")} == {
        "file": "events.csv",
        "rows": 13,
        "inserted": 5,
        "duplicates": 0,
        "rejected": 8,
    }
    assert summary["rejected_by_code"] == {
        "idempotency_conflict": 1,
        "invalid_email": 1,
        "invalid_event": 4,
        "occurred_in_future": 1,
        "unknown_contact": 1,
    }
    assert summary["contacts_rescored"] == 2 and summary["dry_run"] is False
    with rejects.open(encoding="utf-8") as handle:
        found = list(csv.reader(handle))
    assert found[0] == ["row", "code", "message"]
    assert [tuple(row[:2]) for row in found[1:]] == [row[:2] for row in EXPECTED_REJECTS]
    for (_, _, message), (_, _, expected) in zip(found[1:], EXPECTED_REJECTS, strict=True):
        assert message.startswith(expected), message
    ana = _timeline(capsys, db, "ana@exemple.fr")
    assert [(e["type"], e["properties"]) for e in ana["events"]] == [
        ("page_view", {"path": "/menu"}),
        ("page_view", {"path": "/pricing"}),
    ]
    bob = _timeline(capsys, db, "crm-2")["events"]
    assert [(e["type"], e["idempotency_key"]) for e in bob] == [
        ("form_submitted", "k1"),
        ("email_clicked", None),
    ]
    again = _import(capsys, db, path).json()
    assert (again["inserted"], again["duplicates"], again["rejected"]) == (0, 5, 8)
    assert again["contacts_rescored"] == 0
    assert _event_count(db) == 5


def test_json_lines_keep_types_report_malformed_lines_and_reimport_as_all_duplicates(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    ana = _id(capsys, db, "ana@exemple.fr")
    good = [
        {
            "type": "purchase",
            "contact_id": ana,
            "occurred_at": "2025-02-01T10:00:00Z",
            "properties": {"amount": 12.5, "items": ["a", "b"]},
            "coupon": "SPRING",
        },
        {"type": "page_view", "email": "BOB@exemple.fr", "occurred_at": "2025-02-01T11:00:00Z"},
        {"type": "email_opened", "phone": "0755443322", "campaign": "c1"},  # no time: dated now
        {"type": "email_opened", "phone": "0755443322", "campaign": "c1"},  # a second one
    ]
    bad = [
        '{"type": "page_view", "email": "ana@exemple.fr"',  # line 5: cut short
        "[1, 2]",  # line 6: not an object
        f'{{"type": "page_view", "contact_id": "{ana}"}}',  # line 7: a string for a number
        f'{{"type": "page_view", "contact_id": {ana}, "properties": {{"x": NaN}}}}',  # line 8
    ]
    path = tmp_path / "events.jsonl"
    path.write_text(_lines(*(json.dumps(obj) for obj in good), *bad), encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    summary = _import(capsys, db, path, "--rejects", str(rejects), "--source", "crm").json()
    assert (summary["rows"], summary["inserted"], summary["rejected"]) == (8, 4, 4)
    assert summary["rejected_by_code"] == {"invalid_event": 1, "malformed_json": 3}
    assert summary["dated_at_import"] == 2 and summary["warnings"]
    with rejects.open(encoding="utf-8") as handle:
        rows = [(r["row"], r["code"]) for r in csv.DictReader(handle)]
    assert rows == [
        ("5", "malformed_json"),
        ("6", "malformed_json"),
        ("7", "invalid_event"),
        ("8", "malformed_json"),
    ]
    (purchase,) = _timeline(capsys, db, str(ana), "--type", "purchase")["events"]
    assert purchase["properties"] == {"coupon": "SPRING", "amount": 12.5, "items": ["a", "b"]}
    assert purchase["source"] == "crm"
    opened = _timeline(capsys, db, "bob@exemple.fr", "--type", "email_opened")["events"]
    assert len(opened) == 2 and all(e["idempotency_key"].startswith("row:") for e in opened)
    clean = tmp_path / "clean.jsonl"
    clean.write_text(_lines(*(json.dumps(obj) for obj in good)), encoding="utf-8")
    again = _import(capsys, db, clean, "--source", "crm").json()
    # Undated rows too: their derived keys find the events stored by the first import.
    assert (again["rows"], again["inserted"], again["duplicates"], again["rejected"]) == (
        4,
        0,
        4,
        0,
    )
    assert _event_count(db) == 4


def test_dry_run_reports_and_writes_nothing(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    path = tmp_path / "events.csv.gz"
    data = _lines("type;email;occurred_at", "page_view;ana@exemple.fr;2025-01-10T10:00:00Z")
    path.write_bytes(gzip.compress(data.encode("utf-8")))
    dry = _import(capsys, db, path, "--dry-run").json()
    assert (dry["inserted"], dry["dry_run"]) == (1, True)
    assert _event_count(db) == 0
    assert _import(capsys, db, path).json()["inserted"] == 1
    assert _event_count(db) == 1


def test_events_list_shows_markup_and_html_verbatim(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One line per event: the assertions read whole cells. The console is made at import, and
    # takes COLUMNS then only if it was set (under pytest-xdist it may be): its width is set here.
    monkeypatch.setattr(kit_cli.stdout, "_width", 250)
    agent = "[bold red]x[/] <script>"
    event = {
        "type": "page_view",
        "email": "ana@exemple.fr",
        "anonymous_id": "visitor-0001",
        "occurred_at": "2025-01-10T10:00:00Z",
        "campaign": "[i]spring[/i]",
        "properties": {"user_agent": agent},
    }
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n", encoding="utf-8")
    _import(capsys, db, path)
    shown = run(capsys, *db, "events", "list", "--contact", "06 12 34 56 78")
    assert shown.code == 0, shown.err
    assert f"user_agent={agent}" in shown.out
    assert "[i]spring[/i]" in shown.out and "visitor-0001" in shown.out
    assert "2025-01-10T10:00:00+00:00" in shown.out
    document = _timeline(capsys, db, "crm-1")
    assert set(document) == {"contact_id", "events"}
    assert document["contact_id"] == _id(capsys, db, "ana@exemple.fr")
    (stored,) = document["events"]
    assert stored["properties"]["user_agent"] == agent
    assert set(stored) >= {
        "id",
        "type",
        "contact_id",
        "anonymous_id",
        "occurred_at",
        "received_at",
        "properties",
        "source",
        "campaign",
        "idempotency_key",
    }


def test_events_list_limit_type_and_unknown_contact(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    path = tmp_path / "events.csv"
    rows = [f"page_view,ana@exemple.fr,2025-01-{day:02d}T10:00:00Z" for day in range(1, 6)]
    path.write_text(
        _lines("type,email,occurred_at", *rows, "form_submitted,ana@exemple.fr,2025-01-06T10:00Z"),
        encoding="utf-8",
    )
    _import(capsys, db, path)
    newest = _timeline(capsys, db, "ana@exemple.fr", "--limit", "2")["events"]
    assert [e["occurred_at"][:10] for e in newest] == ["2025-01-05", "2025-01-06"]
    views = _timeline(capsys, db, "ana@exemple.fr", "--type", "page_view", "--limit", "2")
    assert [e["occurred_at"][:10] for e in views["events"]] == ["2025-01-04", "2025-01-05"]
    assert _timeline(capsys, db, "bob@exemple.fr")["events"] == []
    missing = run(capsys, *db, "events", "list", "--contact", "nobody@exemple.fr")
    assert missing.code == 1 and "no contact matches 'nobody@exemple.fr'" in missing.err


def test_property_types_come_from_every_value_of_the_column(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    # Past the look-ahead, a late text value makes the whole column text: the file is read
    # again; a small file's numbers stay numbers.
    rows = [f"page_view,ana@exemple.fr,2025-01-01T00:00:00Z,{n},{n}" for n in range(10_100)]
    rows[-1] = rows[-1].rsplit(",", 1)[0] + ",late text"
    late = tmp_path / "late.csv"
    late.write_text(_lines("type,email,occurred_at,idempotency_key,n", *rows), encoding="utf-8")
    assert _import(capsys, db, late).json()["inserted"] == 10_100
    small = tmp_path / "small.csv"
    small.write_text(
        _lines("type,email,occurred_at,n,ok", "purchase,bob@exemple.fr,2025-01-01T00:00Z,12,oui"),
        encoding="utf-8",
    )
    _import(capsys, db, small)
    first = _timeline(capsys, db, "ana@exemple.fr", "--limit", "10100")["events"][0]
    assert first["properties"] == {"n": "0"}
    (purchase,) = _timeline(capsys, db, "bob@exemple.fr")["events"]
    assert purchase["properties"] == {"n": 12, "ok": True}


def test_an_xlsx_sheet_of_events(db: tuple[str, str], tmp_path: Path, capsys: CapSys) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["type", "external_id", "occurred_at", "amount"])
    sheet.append(["purchase", "crm-1", "2025-03-01T10:00:00+01:00", 19.9])
    sheet.append(["purchase", "crm-1", datetime(2025, 3, 2, 10, 0), 5])  # noqa: DTZ001
    path = tmp_path / "events.xlsx"
    book.save(path)
    rejects = tmp_path / "rejects.csv"
    summary = _import(capsys, db, path, "--rejects", str(rejects)).json()
    assert (summary["format"], summary["inserted"], summary["rejected"]) == ("xlsx", 1, 1)
    # A spreadsheet date has no time zone: that row says so.
    assert "occurred_at: Input should have timezone info" in rejects.read_text(encoding="utf-8")
    (purchase,) = _timeline(capsys, db, "crm-1")["events"]
    assert purchase["properties"] == {"amount": 19.9}


BAD_FILES = {
    "missing": (None, "missing.csv", "no such file"),
    "empty": ("", "empty.csv", "the file is empty"),
    "header_only": ("type,email\n", "header.csv", "no data rows"),
    "no_type_column": ("email,path\nana@exemple.fr,/\n", "notype.csv", "no `type` column"),
    "no_contact_column": ("type,path\npage_view,/\n", "nowho.csv", "no column names the contact"),
    "blank_json_lines": ("\n\n", "blank.jsonl", "has no events"),
    "ragged_row": ("type,email\npage_view,a@x.fr,extra\n", "ragged.csv", "row 2: 3 cells"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_exits_1_with_one_line_and_writes_nothing(
    case: str, db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    text, name, message = BAD_FILES[case]
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    result = run(capsys, *db, "import", "events", str(path), "--rejects", str(rejects))
    assert result.code == 1 and result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}"), result.err
    assert message in lines[0]
    assert not rejects.exists() and not list(tmp_path.glob(".rejects-*"))
    as_json = run(capsys, *db, "--json", "import", "events", str(path))
    assert as_json.code == 1 and as_json.json()["error"]["code"] == "import_file"
    assert _event_count(db) == 0


def test_a_file_error_after_the_first_chunk_leaves_nothing(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    rows = [f"page_view,ana@exemple.fr,2025-01-01T00:00:{n % 60:02d}Z,{n}" for n in range(10_050)]
    path = tmp_path / "long.csv"
    path.write_text(_lines("type,email,occurred_at,n", *rows, "page_view,oops"), encoding="utf-8")
    result = run(capsys, *db, "import", "events", str(path))
    assert result.code == 1 and "long.csv row 10052: 2 cells but the header has 4" in result.err
    assert _event_count(db) == 0


def test_a_failure_while_rescoring_leaves_no_event(db: tuple[str, str], tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(_lines("type,email", "page_view,ana@exemple.fr"), encoding="utf-8")

    def failing(*_: object) -> None:
        raise RuntimeError("rescoring failed")

    database = Database(db[1], Settings()).ready()
    try:
        with pytest.raises(RuntimeError), database.unit_of_work() as session:
            import_events(session, path, EventImportOptions(), after=failing)
    finally:
        database.dispose()
    assert _event_count(db) == 0


PLAYBOOK = """\
name: Interest test
locale: en
default_region: FR
currency: EUR
eligibility: email is not null
interest:
  half_life: 14d
  rules:
    - {event: page_view, points: 5}
    - {event: form_submitted, points: 40}
qualify: interest >= 30
recycle_after: 30d
"""


def test_imported_events_rescore_and_qualify_their_contacts_in_the_same_run(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    qualified = run(capsys, *db, "qualify", "--playbook", str(playbook))
    assert qualified.code == 0, qualified.err
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    path = tmp_path / "events.csv"
    path.write_text(
        _lines(
            "type,email,occurred_at",
            f"form_submitted,ana@exemple.fr,{hour_ago}",
            f"page_view,bob@exemple.fr,{hour_ago}",
        ),
        encoding="utf-8",
    )
    summary = _import(capsys, db, path).json()
    assert (summary["inserted"], summary["contacts_rescored"]) == (2, 2)
    ana = run(capsys, *db, "--json", "contacts", "show", "ana@exemple.fr").json()
    bob = run(capsys, *db, "--json", "contacts", "show", "bob@exemple.fr").json()
    assert (ana["stage"], bob["stage"]) == ("qualified", "lead")
    assert 39 < ana["scores"]["interest"] < 40 and 4.9 < bob["scores"]["interest"] < 5
