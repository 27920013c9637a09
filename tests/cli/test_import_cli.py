"""`leadsift import contacts`, `import undo`, `contacts show|export` through the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.cli.helpers import run
from tests.files import FRENCH_CRM_EXPECTED, write_csv, write_french_crm

CapSys = pytest.CaptureFixture[str]


def test_json_import_prints_exactly_one_document(
    committed_db_url: str, tmp_path: Path, capsys: CapSys
) -> None:
    path = write_french_crm(tmp_path / "crm.csv")
    result = run(capsys, "--db", committed_db_url, "--json", "import", "contacts", str(path))
    assert result.code == 0, result.err
    document = result.json()
    assert {k: document[k] for k in FRENCH_CRM_EXPECTED} == FRENCH_CRM_EXPECTED
    assert set(document) >= {
        "batch_id",
        "rows",
        "created",
        "updated",
        "unchanged",
        "rejected",
        "rejected_by_reason",
        "seconds",
    }
    shown = run(capsys, "--db", committed_db_url, "--json", "contacts", "show", "06 12 34 56 78")
    assert shown.code == 0, shown.err
    contact = shown.json()
    assert set(contact) >= {
        "id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "birth_date",
        "age",
        "stage",
        "attrs",
        "consent",
    }
    assert (contact["email"], contact["phone"], contact["stage"], contact["consent"]) == (
        "jerome.lefevre@exemple.fr",
        "+33612345678",
        "contact",
        {"email": True},
    )


def test_table_output_and_rejects_file(tmp_path: Path, capsys: CapSys) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    path = write_french_crm(tmp_path / "crm.csv")
    rejects = tmp_path / "rejects.csv"
    result = run(capsys, "--db", db, "import", "contacts", str(path), "--rejects", str(rejects))
    assert result.code == 0, result.err
    assert "created" in result.out and "identity_conflict" in result.out
    with rejects.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["row"], r["column"], r["reason"]) for r in rows] == [
        ("5", "Courriel", "invalid_email"),
        ("6", "Téléphone", "invalid_phone"),
        ("8", "", "no_identifier"),
        ("10", "Téléphone", "identity_conflict"),
        ("11", "Date de naissance", "invalid_birth_date"),
    ]
    assert rows[0]["value"] == "zoe.noel@exemple"


def test_dry_run_writes_nothing(tmp_path: Path, capsys: CapSys) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    path = write_french_crm(tmp_path / "crm.csv")
    dry = run(capsys, "--db", db, "--json", "import", "contacts", str(path), "--dry-run")
    assert dry.code == 0 and dry.json()["created"] == 4 and dry.json()["batch_id"] is None
    real = run(capsys, "--db", db, "--json", "import", "contacts", str(path))
    assert real.json()["created"] == 4  # the dry run left nothing behind


def test_export_round_trip_reimports_as_unchanged(
    committed_db_url: str, tmp_path: Path, capsys: CapSys
) -> None:
    db = ("--db", committed_db_url)
    write_french_crm(tmp_path / "crm.csv")
    extra = write_csv(
        tmp_path / "extra.csv",
        ["email", "visits", "vip", "since"],
        [["jerome.lefevre@exemple.fr", "3", "yes", "2024-05-01"]],
    )
    assert run(capsys, *db, "import", "contacts", str(tmp_path / "crm.csv")).code == 0
    assert run(capsys, *db, "import", "contacts", str(extra)).code == 0
    out = tmp_path / "export.csv"
    exported = run(capsys, *db, "--json", "contacts", "export", str(out))
    assert exported.json() == {"file": str(out), "contacts": 4}
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:4] == ["external_id", "email", "Téléphone", "Prénom"]  # newest name wins
    assert "Civilité" in header and "visits" in header
    again = run(capsys, *db, "--json", "import", "contacts", str(out)).json()
    assert (
        again["rows"],
        again["unchanged"],
        again["created"],
        again["updated"],
        again["rejected"],
    ) == (4, 4, 0, 0, 0)


def test_undo_through_the_cli(tmp_path: Path, capsys: CapSys) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    path = write_french_crm(tmp_path / "crm.csv")
    batch = run(capsys, "--db", db, "--json", "import", "contacts", str(path)).json()["batch_id"]
    undo = run(capsys, "--db", db, "--json", "import", "undo", str(batch))
    assert undo.code == 0 and undo.json()["contacts_deleted"] == 4
    twice = run(capsys, "--db", db, "import", "undo", str(batch))
    assert (
        twice.code == 1 and twice.err.strip() == f"error: import batch {batch} was already undone"
    )
    again = run(capsys, "--db", db, "--json", "import", "contacts", str(path)).json()
    assert again["created"] == 4
