"""`demo`, `backup`/`restore` and `db upgrade` through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import run
from tests.files import write_csv, write_french_crm

CapSys = pytest.CaptureFixture[str]


def test_demo_builds_a_workspace_and_is_idempotent(tmp_path: Path, capsys: CapSys) -> None:
    folder = tmp_path / "demo"
    first = run(capsys, "--json", "demo", "--dir", str(folder))
    assert first.code == 0, first.err
    document = first.json()
    assert (document["import"]["rows"], document["import"]["created"]) == (41_188, 41_188)
    assert (folder / "leadsift.db").is_file()
    assert any("contacts show" in command for command in document["next"])
    # The bundled playbook is applied: people aged 25 to 35 are leads (15,445 in the data).
    funnel = document["funnel"]
    assert (funnel["contacts"], funnel["leads"], funnel["unqualified"]) == (41_188, 15_445, 25_743)
    assert funnel["unqualified_by_reason"] == {"criteria_not_met": 25_743}
    assert document["qualify"]["playbook_version"] == 1
    again = run(capsys, "--json", "demo", "--dir", str(folder)).json()
    assert (again["import"]["created"], again["import"]["unchanged"]) == (0, 41_188)
    table = run(capsys, "demo", "--dir", str(folder))
    assert table.code == 0 and "Try next" in table.out and "CC BY 4.0" in table.out
    assert "Funnel so far" in table.out and "criteria_not_met" in table.out


def test_backup_and_restore(committed_db_url: str, tmp_path: Path, capsys: CapSys) -> None:
    db = ("--db", committed_db_url)
    assert (
        run(capsys, *db, "import", "contacts", str(write_french_crm(tmp_path / "a.csv"))).code == 0
    )
    backup = tmp_path / "backup.bin"
    made = run(capsys, *db, "--json", "backup", str(backup))
    assert made.code == 0, made.err
    assert made.json()["bytes"] > 0
    extra = write_csv(tmp_path / "b.csv", ["email"], [["late@x.fr"]])
    assert run(capsys, *db, "import", "contacts", str(extra)).code == 0
    restored = run(capsys, *db, "--json", "restore", str(backup))
    assert restored.code == 0, restored.err
    assert run(capsys, *db, "contacts", "show", "late@x.fr").code == 1
    assert run(capsys, *db, "contacts", "show", "jerome.lefevre@exemple.fr").code == 0


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path: Path, capsys: CapSys) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("not a database", encoding="utf-8")
    result = run(capsys, "--db", f"sqlite:///{tmp_path / 'w.db'}", "restore", str(bogus))
    assert result.code == 1 and "bogus.db" in result.err and len(result.err.splitlines()) == 1
    missing = run(capsys, "--db", f"sqlite:///{tmp_path / 'w.db'}", "restore", "nope.db")
    assert missing.code == 1 and "no backup file" in missing.err


def test_db_upgrade_is_idempotent(tmp_path: Path, capsys: CapSys) -> None:
    db = ("--db", f"sqlite:///{tmp_path / 'w.db'}")
    first = run(capsys, *db, "--json", "db", "upgrade")
    second = run(capsys, *db, "--json", "db", "upgrade")
    assert first.code == second.code == 0
    assert first.json()["revision"] == second.json()["revision"] is not None
