"""`demo`, `backup`/`restore` and `db upgrade` through the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import run
from tests.files import write_csv, write_french_crm

CapSys = pytest.CaptureFixture[str]


# The funnel the bundled data and playbook make, on every run, engine and day (the web
# sessions are dated relative to when the workspace was built).
DEMO_STAGES = {"contacts": 41_188, "leads": 14_345, "qualified": 355, "customers": 1_908}
DEMO_UNQUALIFIED = {"criteria_not_met": 24_580}
INTERESTED_NOT_BOUGHT = {"contacts": 814, "qualified": 355}
WEB_EVENTS = {"sessions": 12_330, "page_views": 56_114, "purchases": 1_908, "events": 58_022}
WEB_VISITORS = {"anonymous_visitors": 1_272, "identified_at_checkout": 422}


def _figures(document: dict[str, Any]) -> dict[str, Any]:
    """What the demo found, without what depends on ids or the time of the run."""
    funnel = document["funnel"]
    interested = funnel["interested_not_bought"]
    return {
        "stages": {key: funnel[key] for key in DEMO_STAGES},
        "unqualified": funnel["unqualified_by_reason"],
        "interested": {key: interested[key] for key in INTERESTED_NOT_BOUGHT},
        "examples": [(p["age"], p["job"], p["stage"]) for p in interested["examples"]],
        "web": {key: document["web"][key] for key in {**WEB_EVENTS, **WEB_VISITORS}},
        "moves": document["score"]["moves"],
    }


def _check_demo_figures(document: dict[str, Any]) -> None:
    figures = _figures(document)
    assert figures["stages"] == DEMO_STAGES
    assert figures["unqualified"] == DEMO_UNQUALIFIED
    assert figures["interested"] == INTERESTED_NOT_BOUGHT
    assert figures["web"] == {**WEB_EVENTS, **WEB_VISITORS}
    assert document["web"]["inserted"] + document["web"]["duplicates"] == WEB_EVENTS["events"]
    # Buyers become customers whatever their stage; leads that showed interest, qualified.
    assert figures["moves"]["lead->qualified:interest_threshold"] == 355
    assert figures["moves"]["qualified->customer:purchase"] == 1_908
    examples = document["funnel"]["interested_not_bought"]["examples"]
    assert len(examples) == 5
    interest = [person["interest"] for person in examples]
    assert interest == sorted(interest, reverse=True) and interest[-1] >= 10
    assert document["funnel"]["a_qualified_contact"] is not None


def test_demo_builds_a_workspace_and_is_idempotent(tmp_path: Path, capsys: CapSys) -> None:
    folder = tmp_path / "demo"
    first = run(capsys, "--json", "demo", "--dir", str(folder))
    assert first.code == 0, first.err
    document = first.json()
    assert (document["import"]["rows"], document["import"]["created"]) == (41_188, 41_188)
    assert (folder / "leadsift.db").is_file()
    assert any("contacts show" in command for command in document["next"])
    # The bundled playbook is applied: people aged 25 to 35 are leads (15,445 in the data).
    assert document["qualify"]["stages"]["lead"] == 15_445
    assert document["qualify"]["reasons"] == {"criteria_met": 15_445, "criteria_not_met": 25_743}
    assert document["qualify"]["playbook_version"] == 1
    # The web sessions then qualify the interested leads and make the buyers customers.
    _check_demo_figures(document)
    assert (document["web"]["inserted"], document["web"]["stitched"]) == (58_022, 1_946)
    assert document["web"]["attribution"].startswith("Data: UCI Online Shoppers")
    again = run(capsys, "--json", "demo", "--dir", str(folder)).json()
    assert (again["import"]["created"], again["import"]["unchanged"]) == (0, 41_188)
    assert (again["web"]["inserted"], again["web"]["duplicates"]) == (0, 58_022)
    assert again["web"]["stitched"] == 0 and again["score"]["moves"] == {}
    assert _figures({**again, "score": document["score"]}) == _figures(document)
    # Seconds later the same visits have decayed by a few millionths: the same examples.
    assert [p["interest"] for p in again["funnel"]["interested_not_bought"]["examples"]] == (
        pytest.approx(
            [p["interest"] for p in document["funnel"]["interested_not_bought"]["examples"]],
            abs=0.11,
        )
    )
    _check_web_app(folder, document["web_app"], again["web_app"])
    table = run(capsys, "demo", "--dir", str(folder))
    assert table.code == 0 and "Try next" in table.out and "CC BY 4.0" in table.out
    # It ends with the web app: how to serve it, where, and how to sign in.
    lines = table.out.strip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("The web app"))
    ending = " ".join(lines[start:])
    assert start >= len(lines) - 4, lines[start:]
    assert "leadsift --db sqlite:///" in ending and "serve --host 127.0.0.1 --port 8000" in ending
    assert "http://127.0.0.1:8000/" in ending and "sign in as demo" in ending
    assert "Funnel" in table.out and "criteria_not_met" in table.out
    assert "Showed interest but did not buy: 814 contacts (355 qualified)" in table.out
    assert "UCI Online Shoppers Purchasing Intention" in table.out
    assert "count(purchase) = 0" in table.out


def _check_web_app(folder: Path, first: dict[str, str], second: dict[str, str]) -> None:
    """The demo's admin signs in with the password of the last run only."""
    from leadsift.access import sessions
    from leadsift.db import Database
    from leadsift.errors import AuthenticationError

    assert first["url"] == "http://127.0.0.1:8000/" and first["user"] == "demo"
    assert first["password"] != second["password"] and len(second["password"]) >= 12
    database = Database(f"sqlite:///{folder / 'leadsift.db'}").ready()
    try:
        with database.unit_of_work() as session:
            assert sessions.sign_in(session, "demo", second["password"]).user_id > 0
            with pytest.raises(AuthenticationError):
                sessions.sign_in(session, "demo", first["password"])
    finally:
        database.dispose()


def test_demo_on_each_engine_and_its_next_commands(
    committed_db_url: str, tmp_path: Path, capsys: CapSys
) -> None:
    db = ("--db", committed_db_url)
    made = run(capsys, *db, "--json", "demo", "--dir", str(tmp_path / "demo"))
    assert made.code == 0, made.err
    document = made.json()
    _check_demo_figures(document)  # the same figures as on a fresh SQLite file
    someone = str(document["funnel"]["a_qualified_contact"])
    assert any(command.endswith(f"explain {someone}") for command in document["next"])
    explained = run(capsys, *db, "--json", "explain", someone).json()
    assert explained["stage"] == "qualified"
    assert explained["interest"]["interest"] >= 10
    assert any(rule["rule"].startswith("page_view") for rule in explained["interest"]["rules"])
    criteria = document["funnel"]["interested_not_bought"]["criteria"]
    counted = run(capsys, *db, "--json", "contacts", "count", "--where", criteria).json()
    assert counted["count"] == INTERESTED_NOT_BOUGHT["contacts"]


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
