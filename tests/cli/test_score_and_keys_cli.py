"""`leadsift score`, `apikey create|list|revoke` and `serve` through the CLI: outputs, and bad
input (exit 1, one line, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadsift.access.models import ApiKey
from leadsift.db import Database
from leadsift.qualification.models import PlaybookVersion
from tests.cli.helpers import run

CapSys = pytest.CaptureFixture[str]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meal-delivery-lyon"


@pytest.fixture
def db(tmp_path: Path, capsys: CapSys) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    imported = run(capsys, "--db", url, "import", "contacts", str(EXAMPLE / "contacts.csv"))
    assert imported.code == 0, imported.err
    return ("--db", url)


def _count(url: str, model: type) -> int:
    database = Database(url)
    with database.unit_of_work(read_only=True) as session:
        found = session.execute(select(func.count()).select_from(model)).scalar_one()
    database.dispose()
    return int(found)


def test_score_needs_a_playbook_then_scores_everyone(db: tuple[str, str], capsys: CapSys) -> None:
    none_yet = run(capsys, *db, "--json", "score")
    assert none_yet.code == 1
    assert "no playbook applied yet" in none_yet.err
    assert none_yet.json()["error"]["code"] == "not_found"
    dry = run(
        capsys, *db, "--json", "score", "--playbook", str(EXAMPLE / "playbook.yaml"), "--dry-run"
    )
    assert dry.code == 0, dry.err
    assert dry.json()["dry_run"] is True
    assert _count(db[1], PlaybookVersion) == 0  # the dry run stored no version
    scored = run(capsys, *db, "--json", "score", "--playbook", str(EXAMPLE / "playbook.yaml"))
    assert scored.code == 0, scored.err
    document = scored.json()
    assert (document["playbook_version"], document["scored"]) == (1, 0)  # no events yet
    assert sum(document["stages"].values()) == 21
    assert run(capsys, *db, "score").code == 0  # now the active playbook is used


@pytest.mark.parametrize(
    ("playbook", "message"),
    [
        ("missing.yaml", "does not exist"),
        ("bad.yaml", "interest.rules[0].event: 'email_click' is not a standard event type"),
        ("policy.yaml", "unknown field 'intrest'"),
    ],
)
def test_score_refuses_bad_playbooks_and_stores_nothing(
    db: tuple[str, str], tmp_path: Path, capsys: CapSys, playbook: str, message: str
) -> None:
    base = "name: x\neligibility: age >= 18\ninterest:\n  half_life: 14d\n  rules:\n"
    (tmp_path / "bad.yaml").write_text(base + "    - {event: email_click, points: 10}\n")
    (tmp_path / "policy.yaml").write_text(
        base + "    - {event: page_view, points: 1}\nqualify: intrest >= 10\n"
    )
    result = run(capsys, *db, "score", "--playbook", str(tmp_path / playbook))
    assert result.code == 1
    assert message in result.err
    assert _count(db[1], PlaybookVersion) == 0


def test_api_keys_are_shown_once_and_stored_as_a_hash(db: tuple[str, str], capsys: CapSys) -> None:
    created = run(capsys, *db, "--json", "apikey", "create", "--name", "website")
    assert created.code == 0, created.err
    document = created.json()
    key = document["key"]
    assert key.startswith(document["prefix"]) and document["scope"] == "ingest"
    database = Database(db[1])
    with database.unit_of_work(read_only=True) as session:
        (row,) = session.scalars(select(ApiKey)).all()
        assert key.encode() not in bytes(row.key_hash) and len(row.key_hash) == 32
    database.dispose()
    listed = run(capsys, *db, "apikey", "list")
    assert listed.code == 0 and document["prefix"] in listed.out
    assert key not in listed.out
    revoked = run(capsys, *db, "--json", "apikey", "revoke", str(document["id"]))
    assert revoked.code == 0 and revoked.json()["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apikey", "create", "--name", "x", "--scope", "root"], "unknown scope 'root'"),
        (["apikey", "create", "--name", "  "], "give the key a name"),
        (["apikey", "revoke", "999"], "no API key 999"),
    ],
)
def test_bad_api_key_commands(
    db: tuple[str, str], capsys: CapSys, args: list[str], message: str
) -> None:
    result = run(capsys, *db, *args)
    assert result.code == 1
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert _count(db[1], ApiKey) == 0


def test_serve_fails_fast_on_a_database_it_cannot_open(tmp_path: Path, capsys: CapSys) -> None:
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'w.db'}"
    result = run(capsys, "--db", url, "serve", "--port", "8999")
    assert result.code == 1
    assert "does not exist" in result.err
    assert len(result.err.strip().splitlines()) == 1
