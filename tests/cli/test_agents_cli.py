"""Agents through the command line: users and teams, assignment in real time, nurturing and
re-qualifying the unqualified, the call queue, and bad input (one line, exit 1, nothing kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import run
from tests.outreach_helpers import cli_json, write_people, write_template

PLAYBOOK = """name: Nurture
eligibility: age >= 0 or age is null
interest:
  half_life: 30d
  rules:
    - {event: page_view, where: 'properties.path startswith "/pricing"', points: 5}
    - {event: email_clicked, points: 40}
qualify: interest >= 30
assignment:
  rules:
    - {when: 'first_name startswith "A"', round_robin: {users: [alice, bob]}}
  default: {team: lyon}
calling:
  audience: b2b
"""
NURTURE = (
    'stage = "unqualified" and stage_reason = "no_interest" and '
    'count(page_view where properties.path startswith "/pricing") >= 2 and count(purchase) = 0'
)


@pytest.fixture
def db(capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str) -> list[str]:
    """A workspace with people, agents, a team and the playbook applied."""
    people = [(f"Ann{i}", f"ann{i}@exemple.fr", "oui") for i in range(4)]
    people += [(f"Bob{i}", f"bob{i}@exemple.fr", "oui") for i in range(2)]
    args = ["--db", committed_db_url, "--json"]
    cli_json(capsys, *args, "import", "contacts", str(write_people(tmp_path / "p.csv", people)))
    for name in ("alice", "bob", "carol"):
        cli_json(capsys, *args, "user", "add", name, "--role", "agent")
    # A member named twice is a member once.
    cli_json(capsys, *args, "team", "add", "lyon", "--member", "carol", "--member", "carol")
    (tmp_path / "pb.yaml").write_text(PLAYBOOK, encoding="utf-8")
    cli_json(capsys, *args, "qualify", "--playbook", str(tmp_path / "pb.yaml"))
    return args


def _events(tmp_path: Path, rows: list[dict[str, object]]) -> str:
    path = tmp_path / f"events{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_the_unqualified_are_nurtured_and_a_response_requalifies_and_assigns_them(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    for ref in ("ann0@exemple.fr", "ann1@exemple.fr", "bob0@exemple.fr"):
        cli_json(
            capsys, *db, "contacts", "set-stage", ref, "unqualified", "--reason", "no_interest"
        )
    visits = [
        {"type": "page_view", "email": who, "properties": {"path": "/pricing"},
         "occurred_at": "2026-11-29T10:00:00Z", "idempotency_key": f"{who}{n}"}
        for who in ("ann0@exemple.fr", "bob0@exemple.fr") for n in range(2)
    ]  # fmt: skip
    cli_json(capsys, *db, "import", "events", _events(tmp_path, visits))
    template = write_template(tmp_path / "nurture.yaml")
    created = cli_json(
        capsys, *db, "campaign", "create", "nurture", "--template", str(template),
        "--target", NURTURE,
    )  # fmt: skip
    assert created["key"] == "nurture"
    preview = cli_json(
        capsys, *db, "campaign", "preview", "nurture", "--contact", "ann0@exemple.fr"
    )
    assert preview["decision"]["allowed"] is True
    # ann0 and bob0 visited pricing twice and bought nothing; ann1 (no visit) is not targeted.
    assert preview["recipients"] + preview["control"] + sum(preview["skipped"].values()) == 2
    # ann0 responds: re-qualified and given to an agent in the same transaction.
    click = {
        "type": "email_clicked",
        "email": "ann0@exemple.fr",
        "occurred_at": "2026-11-30T09:00:00Z",
    }
    cli_json(capsys, *db, "import", "events", _events(tmp_path, [click]))
    shown = cli_json(capsys, *db, "contacts", "show", "ann0@exemple.fr")
    assert shown["stage"] == "qualified"
    waiting = cli_json(capsys, *db, "assign", "--dry-run")
    assert waiting["waiting"] == 0  # nobody left without an owner
    queue = cli_json(capsys, *db, "calls", "next", "--agent", "alice", "--at", "2026-12-02T10:05")
    # In alice's queue (the round robin's first pick) — not callable: no phone number.
    assert queue["waiting"] == 1 and queue["excluded"] == {"no_phone": 1}


def test_users_teams_roles_and_the_audit_log(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    users = cli_json(capsys, *db, "user", "list")["users"]
    assert {(u["name"], u["role"]) for u in users} >= {("alice", "agent"), ("carol", "agent")}
    assert next(u for u in users if u["name"] == "carol")["teams"] == ["lyon"]
    cli_json(capsys, *db, "user", "update", "bob", "--role", "manager")
    cli_json(capsys, *db, "user", "disable", "carol")
    entries = cli_json(capsys, *db, "audit", "--target-type", "user", "--limit", "10000")["entries"]
    actions = [(e["action"], e["details"]) for e in entries]
    assert ("role_changed", {"from": "agent", "to": "manager"}) in actions
    assert ("user_disabled", {}) in actions
    assert all("@" not in json.dumps(e) for e in entries)  # no personal data
    refused = run(capsys, *db, "calls", "next", "--agent", "carol")
    assert refused.code == 1 and "disabled" in refused.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "alice"], "already exists"),
        (["user", "add", "zed", "--role", "king"], "unknown role 'king'"),
        (["user", "add", "Zed Smith"], "lower-case letters"),
        (["user", "add", "zed", "--team", "paris"], "no team 'paris'"),
        (["user", "update", "alice", "--weight", "0"], "--weight must be between 1 and 100"),
        (["team", "add", "paris", "--member", "nobody"], "no user 'nobody'"),
        (["calls", "next", "--agent", "nobody"], "no user 'nobody'"),
        (["calls", "next", "--agent", "alice", "--at", "tomorrow"], "give an ISO date-time"),
        (["calls", "log", "ann0@exemple.fr", "--agent", "alice", "--outcome", "maybe"],
         "unknown outcome 'maybe'"),
        (["calls", "touch", "ann0@exemple.fr", "--agent", "alice", "--channel", "fax"],
         "email or sms"),
        (["assign", "ann0@exemple.fr", "--to", "nobody"], "no user 'nobody'"),
        (["speed", "report", "--by", "moon"], "agent, source, team"),
        (["speed", "waiting", "--sla", "soon"], "--sla 'soon'"),
        (["user", "update", "alice", "--away-until", "later"], "give an ISO date-time"),
        (["apikey", "create", "--name", "x", "--user", "nobody"], "no user 'nobody'"),
        (["team", "add", "Lyon East"], "lower-case letters"),
    ],
)  # fmt: skip
def test_bad_input_gets_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], db: list[str], args: list[str], message: str
) -> None:
    before = cli_json(capsys, *db, "audit", "--limit", "10000")["entries"]
    result = run(capsys, *db, *args)
    assert result.code == 1, result.out
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert message in json.loads(result.out)["error"]["message"]  # --json: the error as JSON
    assert cli_json(capsys, *db, "audit", "--limit", "10000")["entries"] == before


def test_an_assignment_rule_naming_a_missing_user_is_refused(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    broken = PLAYBOOK.replace("[alice, bob]", "[alice, bobby]")
    (tmp_path / "broken.yaml").write_text(broken, encoding="utf-8")
    # Scoring is not refused for it (events keep flowing); the prospects wait, and it says so.
    scored = run(capsys, *db, "score", "--playbook", str(tmp_path / "broken.yaml"))
    assert scored.code == 0
    click = {
        "type": "email_clicked",
        "email": "ann2@exemple.fr",
        "occurred_at": "2026-11-30T09:00:00Z",
    }
    cli_json(capsys, *db, "import", "events", _events(tmp_path, [click]))
    result = run(capsys, *db, "assign")
    assert result.code == 1
    assert "names user 'bobby', who does not exist" in result.err
    assert "nothing was assigned" in result.err
    dry = run(capsys, *db, "assign", "--dry-run")
    assert dry.code == 1


def test_speed_to_lead_counts_the_first_touch_and_lists_who_waits(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    clicks = [
        {
            "type": "email_clicked",
            "email": f"ann{i}@exemple.fr",
            "occurred_at": "2026-11-30T09:00:00Z",
        }
        for i in range(2)
    ]
    cli_json(capsys, *db, "import", "events", _events(tmp_path, clicks))
    owners = cli_json(capsys, *db, "assign", "--dry-run")
    assert owners["waiting"] == 0
    touched = cli_json(
        capsys, *db, "calls", "touch", "ann0@exemple.fr", "--agent", "alice", "--channel", "email"
    )
    assert touched["events"] == ["email_sent"]
    report = cli_json(capsys, *db, "speed", "report", "--by", "agent")
    rows = {row["group"]: row for row in report["rows"]}
    assert rows["alice"]["touched"] == 1 and rows["alice"]["median_minutes"] is not None
    assert rows["bob"]["touched"] == 0
    waiting = cli_json(capsys, *db, "speed", "waiting", "--sla", "0s")["waiting"]
    assert [w["owner"] for w in waiting] == ["bob"]
