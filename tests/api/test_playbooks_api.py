"""Playbooks and qualification over the API (both engines): versions, the active one, validate
and dry run answering as `leadsift playbook validate` and `qualify --dry-run`, a contact's
explanation and stage history as `leadsift explain --json`, and who may ask."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadsift.access.schemas import Role
from leadsift.db import Database
from tests.api.conftest import user_key
from tests.api.test_route_policies import bearer
from tests.cli.helpers import run

CapSys = pytest.CaptureFixture[str]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meal-delivery-lyon"
PLAYBOOK = EXAMPLE / "playbook.yaml"
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
BROKEN = (
    "name: X\neligibility: age >= 18 and shoe_size > 3\nfit:\n  - {when: 'age > 3', points: ten}\n"
)


@pytest.fixture
def workspace(db_url: str, app_client: TestClient, capsys: CapSys) -> tuple[str, str]:
    """The example's contacts in the database the app serves (started first: migrated)."""
    assert app_client.app is not None
    imported = run(capsys, "--db", db_url, "import", "contacts", str(EXAMPLE / "contacts.csv"))
    assert imported.code == 0, imported.err
    return ("--db", db_url)


@pytest.fixture
def admin(api_key: Callable[..., str]) -> dict[str, str]:
    """The header of an admin key acting for nobody."""
    return bearer(api_key("admin"))


def _contacts(capsys: CapSys, db: tuple[str, str], where: str) -> list[dict[str, Any]]:
    listed = run(capsys, *db, "--json", "contacts", "list", "--where", where, "--fields", "id")
    assert listed.code == 0, listed.err
    return list(listed.json()["contacts"])


def test_validate_answers_as_the_command(
    *,
    workspace: tuple[str, str], app_client: TestClient, admin: dict[str, str], capsys: CapSys,
    tmp_path: Path,
) -> None:  # fmt: skip
    command = run(capsys, *workspace, "--json", "playbook", "validate", str(PLAYBOOK))
    assert command.code == 0, command.err
    text = PLAYBOOK.read_text(encoding="utf-8")
    valid = app_client.post("/api/v1/playbooks/validate", json={"playbook": text}, headers=admin)
    assert valid.status_code == 200, valid.text
    assert valid.json() == {**command.json(), "problems": []}
    broken = tmp_path / "playbook.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    refused = run(capsys, *workspace, "--json", "playbook", "validate", str(broken))
    assert refused.code == 1
    answer = app_client.post("/api/v1/playbooks/validate", json={"playbook": BROKEN}, headers=admin)
    assert answer.status_code == 200, answer.text
    checked = answer.json()
    assert checked["valid"] is False and checked["name"] is None
    assert [(p["path"], p["line"]) for p in checked["problems"]] == [
        ("eligibility", 2),
        ("fit[0].points", 4),
    ]
    assert "shoe_size" in checked["problems"][0]["message"]
    # The same problems, one per line of the command's message.
    for problem in checked["problems"]:
        line = f"playbook.yaml:{problem['line']}: {problem['path']}: {problem['message']}"
        assert line in refused.json()["error"]["message"]


def test_the_dry_run_reports_what_qualify_would_and_writes_nothing(
    workspace: tuple[str, str], app_client: TestClient, admin: dict[str, str], capsys: CapSys
) -> None:
    command = run(capsys, *workspace, "--json", "qualify", "--playbook", str(PLAYBOOK), "--dry-run")
    assert command.code == 0, command.err
    text = PLAYBOOK.read_text(encoding="utf-8")
    answer = app_client.post("/api/v1/playbooks/dry-run", json={"playbook": text}, headers=admin)
    assert answer.status_code == 200, answer.text
    expected = {k: v for k, v in command.json().items() if k != "seconds"}
    assert {k: v for k, v in answer.json().items() if k != "seconds"} == expected
    assert expected["dry_run"] is True and expected["changed"] > 0
    assert len(_contacts(capsys, workspace, 'stage = "contact"')) == 21
    assert app_client.get("/api/v1/playbooks", headers=admin).json()["items"] == []
    refused = app_client.post("/api/v1/playbooks/dry-run", json={"playbook": BROKEN}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_playbook"
    assert "fit[0].points" in refused.json()["error"]["message"]


def test_versions_a_page_at_a_time_and_the_active_one(
    *,
    workspace: tuple[str, str], app_client: TestClient, admin: dict[str, str], capsys: CapSys,
    tmp_path: Path,
) -> None:  # fmt: skip
    missing = app_client.get("/api/v1/playbooks/active", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert "qualification-runs" in missing.json()["error"]["message"]
    assert run(capsys, *workspace, "qualify", "--playbook", str(PLAYBOOK)).code == 0
    second = tmp_path / "second.yaml"
    second.write_text(PLAYBOOK.read_text(encoding="utf-8").replace("points: 15", "points: 20"))
    assert run(capsys, *workspace, "qualify", "--playbook", str(second)).code == 0
    first_page = app_client.get("/api/v1/playbooks?limit=1", headers=admin).json()
    newest = first_page["items"][0]
    assert (newest["version"], newest["active"], newest["source_name"]) == (2, True, "second.yaml")
    assert first_page["next"] == str(newest["id"])
    last_page = app_client.get(
        f"/api/v1/playbooks?limit=1&after={first_page['next']}", headers=admin
    )
    oldest = last_page.json()["items"][0]
    assert (oldest["version"], oldest["active"], last_page.json()["next"]) == (1, False, None)
    active = app_client.get("/api/v1/playbooks/active", headers=admin).json()
    assert active == app_client.get(f"/api/v1/playbooks/{newest['id']}", headers=admin).json()
    assert active["yaml"] == second.read_text(encoding="utf-8")
    validated = run(capsys, *workspace, "--json", "playbook", "validate", str(second)).json()
    assert {"valid": True, **active["summary"]} == validated
    assert active["fingerprint"] == validated["fingerprint"]
    assert active["document"]["fit"][0]["points"] == 20
    gone = app_client.get("/api/v1/playbooks/999999", headers=admin)
    assert gone.status_code == 404 and "GET /api/v1/playbooks" in gone.json()["error"]["message"]


def test_explanation_and_stage_history_as_explain_prints_them(
    *,
    workspace: tuple[str, str], app_client: TestClient, admin: dict[str, str], capsys: CapSys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Interest decays with time: the command and the API explain the same moment.
    for module in ("qualification.promotion", "scoring.endpoints", "scoring.cli"):
        monkeypatch.setattr(f"leadsift.{module}.utcnow", lambda: NOW)
    assert run(capsys, *workspace, "qualify", "--playbook", str(PLAYBOOK)).code == 0
    lead = _contacts(capsys, workspace, 'stage = "lead"')[0]["id"]
    moved = run(capsys, *workspace, "contacts", "set-stage", str(lead), "qualified",
                "--reason", "hand_raiser", "--note", "called us")  # fmt: skip
    assert moved.code == 0, moved.err
    command = run(capsys, *workspace, "--json", "explain", str(lead))
    assert command.code == 0, command.err
    answer = app_client.get(f"/api/v1/contacts/{lead}/explanation", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json() == command.json()
    assert answer.json()["interest"] is not None and answer.json()["prediction"] is None
    history = command.json()["history"]
    assert [h["to_stage"] for h in history] == ["lead", "qualified"]
    page = app_client.get(f"/api/v1/contacts/{lead}/stage-history?limit=1", headers=admin).json()
    assert page == {"items": history[:1], "next": str(history[0]["id"])}
    rest = app_client.get(
        f"/api/v1/contacts/{lead}/stage-history?after={page['next']}", headers=admin
    ).json()
    assert rest == {"items": history[1:], "next": None}


def test_who_may_ask(
    *,
    workspace: tuple[str, str], app_client: TestClient, committed_db: Database,
    api_key: Callable[..., str], capsys: CapSys,
) -> None:  # fmt: skip
    contact = _contacts(capsys, workspace, 'city = "Lyon"')[0]["id"]
    agent = user_key(committed_db, "ann", Role.AGENT)
    manager = user_key(committed_db, "max", Role.MANAGER)
    # Nobody gave ann this contact: exactly the answer for one that does not exist.
    for path in ("explanation", "stage-history"):
        hidden = app_client.get(f"/api/v1/contacts/{contact}/{path}", headers=bearer(agent))
        missing = app_client.get(f"/api/v1/contacts/99999/{path}", headers=bearer(agent))
        assert (hidden.status_code, missing.status_code) == (404, 404)
        assert hidden.json() == {"error": {"code": "not_found", "message": f"no contact {contact}"}}
        assert missing.json()["error"]["message"] == "no contact 99999"
    text = {"playbook": PLAYBOOK.read_text(encoding="utf-8")}
    for token in (manager, agent, api_key("ingest")):
        assert app_client.get("/api/v1/playbooks", headers=bearer(token)).status_code == 403
        refused = app_client.post("/api/v1/playbooks/dry-run", json=text, headers=bearer(token))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    reader = bearer(api_key("read"))
    assert app_client.post("/api/v1/playbooks/validate", json=text, headers=reader).json()["valid"]


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", "/api/v1/playbooks?limit=0", None, "limit"),
        ("GET", "/api/v1/playbooks?limit=501", None, "limit"),
        ("GET", "/api/v1/playbooks?after=abc", None, "after"),
        ("GET", "/api/v1/playbooks/0", None, "version_id"),
        ("GET", "/api/v1/contacts/1/stage-history?after=-1", None, "after"),
        ("GET", "/api/v1/playbooks?limt=5", None, "limt"),
        ("GET", "/api/v1/playbooks/active?version=1", None, "version"),
        ("POST", "/api/v1/playbooks/validate", {"playbook": ""}, "playbook"),
        ("POST", "/api/v1/playbooks/validate", {"playbook": "a\x00"}, "playbook"),
        ("POST", "/api/v1/playbooks/dry-run", {"playbook": "name: X", "dry": True}, "dry"),
        ("POST", "/api/v1/playbooks/dry-run", {}, "playbook"),
    ],
)
def test_bad_requests_are_refused_in_the_error_shape(
    *,
    app_client: TestClient, admin: dict[str, str], method: str, url: str,
    body: dict[str, Any] | None, field: str,
) -> None:  # fmt: skip
    answer = app_client.request(method, url, json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]
    assert [d["field"] for d in error["details"]] == [field]
