"""`leadsift segment save|list|show|delete` and `contacts count|list|export --segment NAME`
on a fresh database; every command with --json prints one document."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import leadsift.cli
from leadsift.access.models import AuditEntry
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.segments.saved_cli import register
from tests.cli.helpers import Result, run
from tests.files import write_csv

CITIES = ["Lyon", "Lyon", "Lyon", "Paris", "Paris", "Nantes"]


@pytest.fixture(autouse=True)
def segment_commands() -> Iterator[None]:
    """The `segment` group on the root command (added here until the root CLI wires it)."""
    groups = leadsift.cli.app.registered_groups
    present = any(group.name == "segment" for group in groups)
    if not present:
        register(leadsift.cli.app)
    yield
    if not present:
        groups[:] = [group for group in groups if group.name != "segment"]


@pytest.fixture
def db(capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path) -> str:
    """A database with six contacts in three cities."""
    rows = [[f"p{i}@example.org", f"First{i}", city] for i, city in enumerate(CITIES)]
    file = write_csv(tmp_path / "c.csv", ["email", "first_name", "city"], rows)
    assert run(capsys, "--db", committed_db_url, "import", "contacts", str(file)).code == 0
    return committed_db_url


def _json(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    result = run(capsys, "--db", url, "--json", *args)
    assert result.code == 0, result.err
    return result.json()


def _fails(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Result:
    result = run(capsys, "--db", url, "--json", *args)
    assert result.code == 1, result.out + result.err
    return result


def _segment_audit(url: str, ids: list[int]) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit entries about these segments (the log outlives emptied PostgreSQL tables)."""
    database = Database(url, Settings(database_url=url)).ready()
    try:
        with database.unit_of_work(read_only=True) as session:
            entries = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_type == "segment", AuditEntry.target_id.in_(ids))
                .order_by(AuditEntry.id)
            ).all()
            return [(e.actor, e.action, e.details) for e in entries]
    finally:
        database.dispose()


def test_save_list_show_update_delete(capsys: pytest.CaptureFixture[str], db: str) -> None:
    created = _json(capsys, db, "segment", "save", "Lyon", "--where", 'city = "Lyon"',
                    "--description", "Lyon team")  # fmt: skip
    keys = ("name", "expression", "description", "created", "changed", "created_by")
    assert [created[k] for k in keys] == ["lyon", 'city = "Lyon"', "Lyon team", True, True, "cli"]
    # Re-running the same command is safe: nothing changes.
    again = _json(capsys, db, "segment", "save", "lyon", "--where", 'city = "Lyon"',
                  "--description", "Lyon team")  # fmt: skip
    assert (again["id"], again["created"], again["changed"]) == (created["id"], False, False)
    south = _json(capsys, db, "segment", "save", "south", "--where", 'city in ("Lyon", "Nantes")')

    listed = _json(capsys, db, "segment", "list")["segments"]
    assert [(s["name"], s["expression"]) for s in listed] == [
        ("lyon", 'city = "Lyon"'), ("south", 'city in ("Lyon", "Nantes")')
    ]  # fmt: skip
    assert "count" not in listed[0]
    counted = _json(capsys, db, "segment", "list", "--counts")["segments"]
    assert [(s["name"], s["count"]) for s in counted] == [("lyon", 3), ("south", 4)]
    shown = _json(capsys, db, "segment", "show", "SOUTH")
    assert (shown["name"], shown["count"], shown["description"]) == ("south", 4, None)

    # Saving a name again updates it.
    updated = _json(capsys, db, "segment", "save", "south", "--where", 'city = "Nantes"')
    assert (updated["created"], updated["changed"]) == (False, True)
    assert _json(capsys, db, "segment", "show", "south")["count"] == 1

    deleted = _json(capsys, db, "segment", "delete", "south")
    assert deleted["deleted"]["name"] == "south"
    assert [s["name"] for s in _json(capsys, db, "segment", "list")["segments"]] == ["lyon"]
    missing = _fails(capsys, db, "segment", "show", "south")
    assert missing.json()["error"]["code"] == "not_found"

    assert _segment_audit(db, [created["id"], south["id"]]) == [
        ("cli", "segment_saved", {"name": "lyon", "created": True}),
        ("cli", "segment_saved", {"name": "south", "created": True}),
        ("cli", "segment_saved", {"name": "south", "created": False}),
        ("cli", "segment_deleted", {"name": "south"}),
    ]


def test_tables_without_json(capsys: pytest.CaptureFixture[str], db: str) -> None:
    saved = run(capsys, "--db", db, "segment", "save", "paris", "--where", 'city = "Paris"')
    assert saved.code == 0 and "Segment paris saved" in saved.out
    shown = run(capsys, "--db", db, "segment", "show", "paris")
    assert "contacts" in shown.out and "2" in shown.out and 'city = "Paris"' in shown.out
    listed = run(capsys, "--db", db, "segment", "list", "--counts")
    assert "paris" in listed.out and "2" in listed.out
    gone = run(capsys, "--db", db, "segment", "delete", "paris")
    assert gone.out.strip() == "deleted segment paris"


def test_an_invalid_expression_is_refused_with_its_position(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    refused = _fails(capsys, db, "segment", "save", "old", "--where", "agee >= 30")
    error = refused.json()["error"]
    assert error["code"] == "invalid_criteria"
    assert error["message"].startswith("line 1, column 1: unknown field 'agee'")
    assert "did you mean 'age'" in refused.err
    bad_name = _fails(capsys, db, "segment", "save", "old people", "--where", "age >= 30")
    assert "segment name 'old people'" in bad_name.err
    assert _json(capsys, db, "segment", "list") == {"segments": []}


def test_contacts_commands_take_a_segment(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    _json(capsys, db, "segment", "save", "paris", "--where", 'city = "Paris"')
    assert _json(capsys, db, "contacts", "count", "--segment", "Paris") == {"count": 2}
    listed = _json(capsys, db, "contacts", "list", "--segment", "paris", "--fields", "email")
    assert listed["contacts"] == [{"email": "p3@example.org"}, {"email": "p4@example.org"}]
    out = tmp_path / "paris.csv"
    assert _json(capsys, db, "contacts", "export", str(out), "--segment", "paris")["contacts"] == 2
    with out.open(encoding="utf-8") as file:
        assert [row["email"] for row in csv.DictReader(file)] == [
            "p3@example.org",
            "p4@example.org",
        ]
    both = _fails(capsys, db, "contacts", "count", "--segment", "paris", "--where", "age > 3")
    assert "--where or --segment, not both" in both.err
    unknown = _fails(capsys, db, "contacts", "list", "--segment", "nobody")
    assert "no saved segment 'nobody'" in unknown.err
    assert not (tmp_path / "nobody.csv").exists()
    _fails(capsys, db, "contacts", "export", str(tmp_path / "nobody.csv"), "--segment", "nobody")
    assert not (tmp_path / "nobody.csv").exists()
