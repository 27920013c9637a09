"""`leadsift optout import|list`: a Bloctel file imported through the real command matches an
imported contact's phone; --json documents; refusals on one line with exit code 1."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from leadsift.agents import optout
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.kit.clock import today
from leadsift.outreach.consent import identifier_hashes, suppression_secret
from tests.cli.helpers import run
from tests.outreach_helpers import cli_json

PEOPLE = (
    "first_name,email,phone\nUma,uma@exemple.fr,06 12 34 56 78\nBea,bea@exemple.fr,06 11 22 33 44\n"
)
BLOCTEL = "numero;date\n+33612345678;2026-11-01\n0766554433;2026-11-02\n0766554433;2026-11-02\n"


def _listed_contacts(url: str) -> set[str]:
    """The emails of the contacts whose phone is on the bloctel list, as the call queue asks."""
    database = Database(url)
    try:
        with database.unit_of_work(dry_run=True) as session:
            secret = suppression_secret(session)
            contacts = session.execute(select(Contact.email, Contact.phone)).all()
            by_hash = {
                identifier_hashes(secret, None, phone)["phone"]: str(email)
                for email, phone in contacts
            }
            listed = optout.listed_phones(session, ["bloctel"], list(by_hash))
            return {by_hash[h] for h in listed}
    finally:
        database.dispose()


def test_import_matches_contacts_and_reports_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> None:
    db = ("--db", committed_db_url, "--json")
    people, bloctel = tmp_path / "people.csv", tmp_path / "bloctel.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    bloctel.write_text(BLOCTEL, encoding="utf-8")
    cli_json(capsys, *db, "import", "contacts", str(people))
    as_of = (today() - timedelta(days=3)).isoformat()
    command = ("optout", "import", str(bloctel), "--list", "bloctel", "--as-of", as_of)
    first = cli_json(capsys, *db, *command)
    assert first == {
        "list": "bloctel",
        "as_of": as_of,
        "entries": 2,
        "file_sha256": hashlib.sha256(bloctel.read_bytes()).hexdigest(),
        "import_id": first["import_id"],
        "replaced": 0,
    }
    assert isinstance(first["import_id"], int)
    assert _listed_contacts(committed_db_url) == {"uma@exemple.fr"}
    again = cli_json(capsys, *db, *command)
    assert (again["entries"], again["replaced"]) == (2, 2)
    assert again["import_id"] > first["import_id"]
    listed = cli_json(capsys, *db, "optout", "list")
    (entry,) = listed["lists"]
    assert entry["imported_at"]
    del entry["imported_at"]
    assert entry == {
        "list_name": "bloctel",
        "as_of": as_of,
        "entries": 2,
        "age_days": 3,
        "outdated": False,
    }


def test_human_output_is_a_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> None:
    db = ("--db", committed_db_url)
    empty = run(capsys, *db, "optout", "list")
    assert empty.code == 0
    assert "no opposition list imported yet" in empty.out
    bloctel = tmp_path / "bloctel.txt"
    bloctel.write_text("0612345678\n", encoding="utf-8")
    # No --as-of: the file's modification date (now) is the list's date.
    result = run(capsys, *db, "optout", "import", str(bloctel), "--list", "bloctel")
    assert result.code == 0, result.err
    assert "Opposition list imported" in result.out
    assert today().isoformat() in result.out
    table = run(capsys, *db, "optout", "list")
    assert "bloctel" in table.out and "outdated" in table.out


@pytest.mark.parametrize(
    "case",
    [
        ("phone\n0612345678\nabc\n", (), "line 3: 'abc' is not a phone number"),
        (
            "0612345678\n",
            ("--as-of", "2020-01-01"),
            "days old: calls may only rely on a list at most 30 days old",
        ),
        ("0612345678\n", ("--as-of", "01/11/2026"), "--as-of '01/11/2026': give the list's date"),
        ("", (), "holds no phone number"),
    ],
    ids=["bad-line", "outdated", "bad-date", "empty"],
)
def test_refusals_are_one_line_and_change_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    committed_db_url: str,
    case: tuple[str, tuple[str, ...], str],
) -> None:
    content, options, message = case
    path = tmp_path / "bloctel.csv"
    path.write_text(content, encoding="utf-8")
    db = ("--db", committed_db_url, "--json")
    result = run(capsys, *db, "optout", "import", str(path), "--list", "bloctel", *options)
    assert result.code == 1
    assert result.err.startswith("error: ") and message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert message in result.json()["error"]["message"]
    assert cli_json(capsys, *db, "optout", "list") == {"lists": []}
