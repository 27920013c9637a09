"""Criteria, playbooks and the lifecycle through the CLI: outputs, and bad input (exit 1)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.cli.helpers import run

CapSys = pytest.CaptureFixture[str]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meal-delivery-lyon"


@pytest.fixture
def db(tmp_path: Path, capsys: CapSys) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    imported = run(capsys, "--db", url, "import", "contacts", str(EXAMPLE / "contacts.csv"))
    assert imported.code == 0, imported.err
    return ("--db", url)


def test_count_list_and_export_with_where(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys
) -> None:
    where = 'orders_online = true and postal_code startswith "69"'
    count = run(capsys, *db, "--json", "contacts", "count", "--where", where)
    assert count.code == 0, count.err
    total = count.json()["count"]
    assert total > 0
    assert run(capsys, *db, "--json", "contacts", "count").json()["count"] == 21
    listed = run(
        capsys,
        *db,
        "--json",
        "contacts",
        "list",
        "--where",
        where,
        "--fields",
        "email,city,attrs.orders_online",
    )
    assert listed.code == 0, listed.err
    rows = listed.json()["contacts"]
    assert len(rows) == total
    assert all(set(r) == {"email", "city", "attrs.orders_online"} for r in rows)
    assert all(r["attrs.orders_online"] is True for r in rows)
    limited = run(capsys, *db, "--json", "contacts", "list", "--limit", "2").json()["contacts"]
    assert len(limited) == 2
    out = tmp_path / "lyon.csv"
    exported = run(capsys, *db, "--json", "contacts", "export", str(out), "--where", where)
    assert exported.code == 0 and exported.json()["contacts"] == total
    with out.open(encoding="utf-8") as handle:
        assert sum(1 for _ in csv.reader(handle)) == total + 1


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("(age > 30", "line 1, column 10: missing ')'"),
        ("age > 30)", "unbalanced ')'"),
        ("age => 30", "unknown operator"),
        ("age between 25", "'between' needs two bounds"),
        ('age < "thirty"', "'age' is an integer field: compare it with a number"),
        ("city < 3", "'city' is a text field"),
        ("city in ()", "'in (…)' needs at least one value"),
        ('regoin = "IDF"', "unknown field 'regoin' — did you mean 'region'?"),
        ('stage = "won"', "'stage' is one of contact, lead"),
        ("orders_online < true", "'<' does not apply"),
    ],
)
def test_bad_expressions_exit_1_with_a_precise_message(
    db: tuple[str, str], capsys: CapSys, where: str, message: str
) -> None:
    result = run(capsys, *db, "contacts", "count", "--where", where)
    assert result.code == 1
    assert message in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    as_json = run(capsys, *db, "--json", "contacts", "count", "--where", where)
    assert as_json.code == 1 and as_json.json()["error"]["code"] == "invalid_criteria"


def test_qualify_explain_and_set_stage(db: tuple[str, str], capsys: CapSys) -> None:
    playbook = str(EXAMPLE / "playbook.yaml")
    assert run(capsys, *db, "playbook", "validate", playbook).code == 0
    dry = run(capsys, *db, "--json", "qualify", "--playbook", playbook, "--dry-run").json()
    assert dry["dry_run"] and dry["playbook_version"] is None
    done = run(capsys, *db, "--json", "qualify", "--playbook", playbook)
    assert done.code == 0, done.err
    summary = done.json()
    assert set(summary) >= {"playbook_version", "evaluated", "changed", "stages", "reasons"}
    assert summary["stages"] == dry["stages"] and summary["reasons"] == dry["reasons"]
    leads = run(capsys, *db, "--json", "contacts", "list", "--where", 'stage = "lead"').json()
    email = leads["contacts"][0]["email"]
    explained = run(capsys, *db, "--json", "explain", email)
    assert explained.code == 0, explained.err
    assert explained.json()["evaluation"]["outcome"] == "lead"
    table = run(capsys, *db, "explain", email)
    assert "Stage history" in table.out and "criteria_met" in table.out
    refused = run(capsys, *db, "contacts", "set-stage", email, "customer", "--reason", "purchase")
    assert refused.code == 1 and "cannot go from lead to customer" in refused.err
    moved = run(
        capsys,
        *db,
        "--json",
        "contacts",
        "set-stage",
        email,
        "qualified",
        "--reason",
        "hand_raiser",
    )
    assert moved.code == 0 and moved.json()["to_stage"] == "qualified"
    unknown = run(capsys, *db, "contacts", "set-stage", email, "winner", "--reason", "x")
    assert unknown.code == 1 and "unknown stage 'winner'" in unknown.err
    history = run(capsys, *db, "--json", "explain", email).json()["history"]
    assert [h["to_stage"] for h in history] == ["lead", "qualified"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("name: X\n", "eligibility"),
        (
            "name: X\neligibility: age > 3\nfit:\n  - {when: 'age > 3', points: ten}\n",
            "fit[0].points",
        ),
        ("name: X\neligibility: age >\n", "eligibility"),
        ("eligibility: age > 3\nlocale: de\n", "2 problems"),
    ],
)
def test_bad_playbooks_exit_1_and_change_nothing(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys, document: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(document, encoding="utf-8")
    validated = run(capsys, *db, "playbook", "validate", str(path))
    assert validated.code == 1 and message in validated.err and "Traceback" not in validated.err
    qualified = run(capsys, *db, "qualify", "--playbook", str(path))
    assert qualified.code == 1
    stages = run(capsys, *db, "--json", "contacts", "count", "--where", 'stage = "contact"')
    assert stages.json()["count"] == 21
    missing = run(capsys, *db, "qualify", "--playbook", str(tmp_path / "nope.yaml"))
    assert missing.code == 1 and "does not exist" in missing.err


def test_unknown_list_field_and_unknown_contact(db: tuple[str, str], capsys: CapSys) -> None:
    listed = run(capsys, *db, "contacts", "list", "--fields", "email,emial")
    assert listed.code == 1 and "did you mean 'email'" in listed.err
    empty = run(capsys, *db, "contacts", "list", "--fields", " , ")
    assert empty.code == 1 and "--fields" in empty.err
    explained = run(capsys, *db, "explain", "nobody@nowhere.example")
    assert explained.code == 1 and "no contact matches" in explained.err
    fields = run(capsys, *db, "--json", "contacts", "fields").json()["fields"]
    names = {f["name"]: f for f in fields}
    assert names["attrs.orders_online"]["type"] == "boolean" and "age" in names
