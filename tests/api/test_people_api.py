"""Users, teams, assignment runs and speed to lead over the API (both engines): each answers
what `leadsift user|team|assign|speed … --json` print; admins change people and run
assignment (audited with their actor), managers read teams and the speed report, anyone the
prospects waiting they may see; wrong scopes and roles get 403, bad input 422."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadsift.access import service as access
from leadsift.access.schemas import Role, Scope
from leadsift.db import Database
from tests.api.test_route_policies import bearer
from tests.cli.helpers import run

PLAYBOOK = """name: Rota
eligibility: age >= 0 or age is null
interest:
  half_life: 30d
  rules:
    - {event: email_clicked, points: 40}
qualify: interest >= 30
assignment:
  rules:
    - {when: 'first_name startswith "A"', round_robin: {users: [alice, bob]}}
  default: {team: lyon}
"""
PEOPLE = "first_name,email\nAnn0,ann0@x.fr\nAnn1,ann1@x.fr\nBob0,bob0@x.fr\n"


def cli_json(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    """What `leadsift --json ARGS` prints."""
    result = run(capsys, "--db", url, "--json", *args)
    assert result.code == 0, result.err
    return result.json()


@pytest.fixture
def workspace(
    app_client: TestClient, capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> str:
    """Three qualified prospects left waiting (the playbook named users who did not exist yet),
    then users alice, bob (agents), carol (in team lyon), max (lyon's manager), ada (admin)."""
    assert app_client.app is not None
    (tmp_path / "p.csv").write_text(PEOPLE, encoding="utf-8")
    (tmp_path / "pb.yaml").write_text(PLAYBOOK, encoding="utf-8")
    cli_json(capsys, db_url, "import", "contacts", str(tmp_path / "p.csv"))
    cli_json(capsys, db_url, "qualify", "--playbook", str(tmp_path / "pb.yaml"))
    for ref in ("ann0@x.fr", "ann1@x.fr", "bob0@x.fr"):
        cli_json(
            capsys, db_url, "contacts", "set-stage", ref, "qualified", "--reason", "hand_raiser"
        )
    for name in ("alice", "bob", "carol"):
        cli_json(capsys, db_url, "user", "add", name)
    cli_json(capsys, db_url, "user", "add", "max", "--role", "manager")
    cli_json(capsys, db_url, "user", "add", "ada", "--role", "admin")
    cli_json(capsys, db_url, "team", "add", "lyon", "--member", "carol", "--member", "max")
    return db_url


@pytest.fixture
def users(app_client: TestClient, committed_db: Database) -> Database:
    """Only people (no contacts): alice (agent), max (manager of team lyon)."""
    assert app_client.app is not None
    with committed_db.unit_of_work() as session:
        access.add_team(session, "lyon")
        access.add_user(session, "alice", Role.AGENT)
        access.add_user(session, "max", Role.MANAGER, teams=["lyon"])
    return committed_db


def key(database: Database, scope: Scope, user: str | None = None) -> dict[str, str]:
    """The header of a new key of SCOPE acting for USER (None: an integration)."""
    with database.unit_of_work() as session:
        return bearer(access.create_key(session, f"{user} {scope}", scope, user=user).key)


def _audit(database: Database) -> list[tuple[str, str]]:
    with database.unit_of_work() as session:
        return [(e.action, e.actor) for e in access.audit_log(session, limit=10_000)]


def test_users_are_added_changed_and_disabled_as_the_cli_does(
    app_client: TestClient,
    committed_db: Database,
    workspace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = key(committed_db, Scope.ADMIN, "ada")
    body = {"name": "Dora", "role": "agent", "teams": ["lyon"], "weight": 3, "capacity": 20}
    added = app_client.post("/api/v1/users", json=body, headers=admin)
    assert added.status_code == 201, added.text
    listed = {u["name"]: u for u in cli_json(capsys, workspace, "user", "list")["users"]}
    assert added.json() == listed["dora"]
    assert (listed["dora"]["teams"], listed["dora"]["weight"]) == (["lyon"], 3)
    taken = app_client.post("/api/v1/users", json=body, headers=admin)
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    nowhere = app_client.post(
        "/api/v1/users", json={"name": "eve", "teams": ["nope"]}, headers=admin
    )
    assert nowhere.status_code == 404

    change = {"role": "manager", "away_until": "2027-01-04T09:00:00+01:00", "capacity": 5}
    changed = app_client.patch("/api/v1/users/dora", json=change, headers=admin)
    assert changed.status_code == 200, changed.text
    shown = {u["name"]: u for u in cli_json(capsys, workspace, "user", "list")["users"]}["dora"]
    assert changed.json() == shown
    assert (shown["role"], shown["capacity"], shown["away_until"]) == (
        "manager", 5, "2027-01-04T08:00:00Z"
    )  # fmt: skip
    back = app_client.patch("/api/v1/users/DORA", json={"back": True}, headers=admin).json()
    assert back["away_until"] is None

    disabled = app_client.post("/api/v1/users/dora/disable", headers=admin)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled_at"] is not None
    assert disabled.json()["prospects_dealt_again"]["waiting"] == 0
    again = cli_json(capsys, workspace, "user", "disable", "dora")
    assert again["disabled_at"] == disabled.json()["disabled_at"]
    ada = f"user:{access_id(committed_db, 'ada')}"
    actions = [action for action, actor in _audit(committed_db) if actor == ada]
    assert actions == ["user_added", "role_changed", "absence_set", "absence_set", "user_disabled"]


def access_id(database: Database, name: str) -> int:
    """The id of user NAME."""
    with database.unit_of_work() as session:
        return access.find_user(session, name).id


def test_teams_are_listed_by_pages_and_added(
    app_client: TestClient,
    committed_db: Database,
    workspace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = key(committed_db, Scope.ADMIN)
    # The services store names in lower case: "Bob" and "bob" are one member.
    for name, members in (("paris", ["alice"]), ("brest", []), ("lyon", ["Bob", "bob"])):
        added = app_client.post(
            "/api/v1/teams", json={"name": name, "members": members}, headers=admin
        )
        assert added.status_code == 200, added.text
    assert added.json()["members"] == ["bob", "carol", "max"]
    manager = key(committed_db, Scope.READ, "max")
    pages, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = app_client.get("/api/v1/teams", params=params, headers=manager).json()
        pages.append([t["name"] for t in page["items"]])
        after = page["next"]
        if after is None:
            break
    assert pages == [["brest", "lyon"], ["paris"]]
    everyone = app_client.get("/api/v1/teams", headers=manager).json()["items"]
    assert everyone == cli_json(capsys, workspace, "team", "list")["teams"]
    unknown = app_client.post(
        "/api/v1/teams", json={"name": "x", "members": ["ghost"]}, headers=admin
    )
    assert unknown.status_code == 404
    names = [t["name"] for t in app_client.get("/api/v1/teams", headers=manager).json()["items"]]
    assert names == ["brest", "lyon", "paris"]


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "seconds"}


def test_an_assignment_run_is_the_clis(
    app_client: TestClient,
    committed_db: Database,
    workspace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = key(committed_db, Scope.ADMIN, "ada")
    dry = app_client.post("/api/v1/assignment-runs", json={"dry_run": True}, headers=admin)
    assert dry.status_code == 200, dry.text
    expected = cli_json(capsys, workspace, "assign", "--dry-run")
    assert _summary(dry.json()) == _summary(expected)
    assert dry.json()["waiting"] == 3
    # A dry run wrote nothing: the real run still finds all three.
    done = app_client.post("/api/v1/assignment-runs", json={}, headers=admin)
    assert _summary(done.json()) == {**_summary(expected), "dry_run": False}
    assert app_client.post("/api/v1/assignment-runs", json={}, headers=admin).json()["waiting"] == 0


def test_speed_to_lead_is_the_clis_and_waiting_is_limited_to_what_one_sees(
    app_client: TestClient,
    committed_db: Database,
    workspace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = key(committed_db, Scope.ADMIN)
    assert app_client.post("/api/v1/assignment-runs", json={}, headers=admin).status_code == 200
    window = {"from": "2020-01-01T00:00:00+00:00", "to": "2999-01-01T00:00:00+00:00"}
    manager = key(committed_db, Scope.READ, "max")
    for by in ("agent", "team", "source"):
        answer = app_client.get(
            "/api/v1/speed-to-lead", params={**window, "by": by}, headers=manager
        )
        assert answer.status_code == 200, answer.text
        expected = cli_json(
            capsys, workspace, "speed", "report", "--by", by, "--from", window["from"],
            "--to", window["to"],
        )  # fmt: skip
        assert answer.json() == expected
    rows = {r["group"]: r["qualified"] for r in answer.json()["rows"]}
    assert rows == {"(no source)": 3}

    def waiting(headers: dict[str, str]) -> list[int]:
        found = app_client.get("/api/v1/speed-to-lead/waiting?sla=0s", headers=headers)
        assert found.status_code == 200, found.text
        return [w["contact_id"] for w in found.json()["waiting"]]

    everyone = cli_json(capsys, workspace, "speed", "waiting", "--sla", "0s")["waiting"]
    assert waiting(admin) == [w["contact_id"] for w in everyone] and len(everyone) == 3
    owners = {w["contact_id"]: w["owner"] for w in everyone}
    assert waiting(key(committed_db, Scope.READ, "alice")) == [
        c for c, owner in owners.items() if owner == "alice"
    ]
    assert waiting(key(committed_db, Scope.READ, "max")) == [
        c for c, owner in owners.items() if owner == "team:lyon"
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "scope", "user"),
    [
        ("POST", "/api/v1/users", {"name": "x"}, Scope.ADMIN, "max"),
        ("POST", "/api/v1/users", {"name": "x"}, Scope.READ, None),
        ("PATCH", "/api/v1/users/alice", {"weight": 2}, Scope.ADMIN, "alice"),
        ("POST", "/api/v1/users/alice/disable", None, Scope.ADMIN, "max"),
        ("POST", "/api/v1/teams", {"name": "x"}, Scope.ADMIN, "max"),
        ("GET", "/api/v1/teams", None, Scope.READ, "alice"),
        ("POST", "/api/v1/assignment-runs", {}, Scope.ADMIN, "max"),
        ("GET", "/api/v1/speed-to-lead", None, Scope.READ, "alice"),
        ("GET", "/api/v1/speed-to-lead/waiting", None, Scope.INGEST, None),
    ],
)
def test_scopes_and_roles_are_enforced(  # noqa: PLR0917 — pytest passes the parameters
    app_client: TestClient,
    committed_db: Database,
    users: Database,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    scope: Scope,
    user: str | None,
) -> None:
    answer = app_client.request(method, path, json=body, headers=key(committed_db, scope, user))
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
    with committed_db.unit_of_work() as session:
        assert access.find_user(session, "alice").disabled_at is None


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/users", {"name": "a b"}, "name"),
        ("POST", "/api/v1/users", {"name": "x", "role": "boss"}, "role"),
        ("POST", "/api/v1/users", {"name": "x", "weight": 0}, "weight"),
        ("PATCH", "/api/v1/users/alice", {"away_until": "2027-01-04T09:00:00"}, "away_until"),
        ("PATCH", "/api/v1/users/alice", {"away_until": "9999-01-04T09:00:00+00:00"}, "away_until"),
        ("PATCH", "/api/v1/users/alice", {"capacity": -1}, "capacity"),
        ("POST", "/api/v1/teams", {"name": "lyon", "members": ["x\x00"]}, "members.0"),
        ("POST", "/api/v1/teams", {"name": "lyon", "members": ["max", "max"]}, "members"),
        ("POST", "/api/v1/users", {"name": "x", "weight": True}, "weight"),
        ("POST", "/api/v1/assignment-runs", {"dry_run": "maybe"}, "dry_run"),
        ("GET", "/api/v1/speed-to-lead?by=mood", None, "by"),
        ("GET", "/api/v1/speed-to-lead?sla=forever", None, "sla"),
        ("GET", "/api/v1/speed-to-lead?sla=9999w", None, "sla"),
        ("GET", "/api/v1/speed-to-lead?from=2026-01-01T00:00:00", None, "from"),
        (
            "GET",
            "/api/v1/speed-to-lead?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
            None,
            "",
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(  # noqa: PLR0917 — pytest passes them
    app_client: TestClient,
    committed_db: Database,
    users: Database,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    admin = key(committed_db, Scope.ADMIN)
    before = _audit(committed_db)
    answer = app_client.request(method, path, json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    if field:
        assert error["code"] == "invalid_request"
        assert error["details"][0]["field"] == field
    else:
        assert error["code"] == "invalid_input" and error["message"]
    assert _audit(committed_db) == before
