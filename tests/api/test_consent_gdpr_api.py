"""Consent and the rights of the people contacted over the API (both engines): what `leadsift
consent show|grant|withdraw` and `gdpr export|erase` print, for the contacts the caller may see
(404 for the others, exactly as for a missing one); statements need the ingest scope, exports
an admin or a manager, erasure an admin key of an admin; each request is logged with its actor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import service as access
from leadsift.access.schemas import Scope
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.outreach.models import DataRequest, Suppression
from tests.api.conftest import seed_people
from tests.api.test_route_policies import bearer
from tests.cli.helpers import run
from tests.files import write_csv

WORDING = "I agree to receive offers by email."


@pytest.fixture
def people(app_client: TestClient, committed_db: Database, tmp_path: Path) -> dict[str, int]:
    """Three contacts (ann's, bob's, nobody's) by name, with users ann and bob (agents), max
    (ann's manager) and ada (admin)."""
    assert app_client.app is not None
    header = ["email", "phone", "first_name", "consent_email"]
    rows = [
        ["ann-c@example.org", "+33611111111", "Anna", "yes"],
        ["bob-c@example.org", "+33622222222", "Bobby", "no"],
        ["free@example.org", "", "Free", ""],
    ]
    file = write_csv(tmp_path / "c.csv", header, rows)
    seed_people(committed_db, file, {f"{user}-c@example.org": user for user in ("ann", "bob")})
    with committed_db.unit_of_work(read_only=True) as session:
        ids = {c.first_name: c.id for c in session.scalars(select(Contact))}
    return {"ann": ids["Anna"], "bob": ids["Bobby"], "free": ids["Free"]}


def key(database: Database, scope: Scope, user: str | None = None) -> dict[str, str]:
    """The header of a new key of SCOPE acting for USER (None: an integration)."""
    with database.unit_of_work() as session:
        return bearer(access.create_key(session, f"{user} {scope}", scope, user=user).key)


def cli_json(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    """What `leadsift --json ARGS` prints."""
    result = run(capsys, "--db", url, "--json", *args)
    assert result.code == 0, result.err
    return result.json()


def _without_times(document: Any) -> Any:
    """DOCUMENT with the `since` and `exported_at` moments taken out (runs differ in time)."""
    if isinstance(document, dict):
        return {k: _without_times(v) for k, v in document.items() if k != "exported_at"}
    if isinstance(document, list):
        return [_without_times(v) for v in document]
    return document


def test_consent_show_grant_and_withdraw_are_the_clis(
    app_client: TestClient,
    committed_db: Database,
    people: dict[str, int],
    capsys: pytest.CaptureFixture[str],
    db_url: str,
) -> None:
    ann = people["ann"]
    reader = key(committed_db, Scope.READ, "ann")
    shown = app_client.get(f"/api/v1/contacts/{ann}/consent", headers=reader)
    assert shown.status_code == 200, shown.text
    assert shown.json() == cli_json(capsys, db_url, "consent", "show", str(ann))
    b2b = app_client.get(f"/api/v1/contacts/{ann}/consent?audience=b2b", headers=reader).json()
    assert b2b == cli_json(capsys, db_url, "consent", "show", str(ann), "--audience", "b2b")

    writer = key(committed_db, Scope.INGEST, "ann")
    statement = {"action": "grant", "channel": "sms", "source": "call", "wording": WORDING}
    granted = app_client.post(f"/api/v1/contacts/{ann}/consent", json=statement, headers=writer)
    assert granted.status_code == 200, granted.text
    cli = cli_json(capsys, db_url, "consent", "grant", str(ann), "--channel", "phone")
    assert set(cli) <= set(granted.json())
    assert granted.json()["granted"] is True and granted.json()["ledger_id"] == cli["ledger_id"] - 1
    withdraw = {"action": "withdraw", "channel": "email", "source": "letter"}
    withdrawn = app_client.post(f"/api/v1/contacts/{ann}/consent", json=withdraw, headers=writer)
    assert withdrawn.json() == {
        "contact_id": ann, "channel": "email", "purpose": "marketing", "granted": False,
        "changed": True, "ledger_id": None,
    }  # fmt: skip
    again = app_client.post(f"/api/v1/contacts/{ann}/consent", json=withdraw, headers=writer)
    assert again.json()["changed"] is False
    assert cli_json(capsys, db_url, "consent", "withdraw", str(ann), "--channel", "email") == {
        "contact_id": ann, "channel": "email", "changed": False
    }  # fmt: skip
    now = app_client.get(f"/api/v1/contacts/{ann}/consent", headers=reader).json()
    assert {ch: s["granted"] for ch, s in now["states"].items()} == {
        "email": False, "sms": True, "phone": True, "ad_audience": None
    }  # fmt: skip
    assert now["states"]["sms"]["source"] == "call"
    assert now["suppressed"] == {"email": "withdrawn"}
    assert now["decisions"]["email"]["allowed"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"action": "grant", "channel": "fax"},
        {"action": "maybe", "channel": "email"},
        {"action": "withdraw", "channel": "email", "wording": WORDING},
        {"action": "grant", "channel": "email", "lift_suppression": True},
        {"action": "grant", "channel": "email", "purpose": "profiling"},
        {"action": "grant", "channel": "email", "source": "x\x00"},
        {"channel": "email"},
    ],
)
def test_a_bad_statement_is_refused_and_nothing_is_recorded(
    app_client: TestClient, committed_db: Database, people: dict[str, int], body: dict[str, Any]
) -> None:
    ann = people["ann"]
    reader = key(committed_db, Scope.READ)
    before = app_client.get(f"/api/v1/contacts/{ann}/consent", headers=reader).json()
    answer = app_client.post(
        f"/api/v1/contacts/{ann}/consent", json=body, headers=key(committed_db, Scope.INGEST)
    )
    assert answer.status_code == 422, answer.text
    assert set(answer.json()["error"]) >= {"code", "message"}
    assert app_client.get(f"/api/v1/contacts/{ann}/consent", headers=reader).json() == before


def test_the_personal_data_export_is_the_clis_and_is_logged(
    app_client: TestClient,
    committed_db: Database,
    people: dict[str, int],
    capsys: pytest.CaptureFixture[str],
    db_url: str,
) -> None:
    ann = people["ann"]
    answer = app_client.get(
        f"/api/v1/contacts/{ann}/personal-data", headers=key(committed_db, Scope.READ, "max")
    )
    assert answer.status_code == 200, answer.text
    exported = answer.json()
    assert exported["identity"]["email"] == "ann-c@example.org"
    assert [c["channel"] for c in exported["consents"]] == ["email"]
    cli = cli_json(capsys, db_url, "gdpr", "export", str(ann))
    assert _without_times(exported) == _without_times(cli)
    with committed_db.unit_of_work() as session:
        requests = session.scalars(select(DataRequest).order_by(DataRequest.id)).all()
        max_id = access.find_user(session, "max").id
    assert [(r.kind, r.contact_id, r.actor) for r in requests] == [
        ("export", ann, f"user:{max_id}"), ("export", ann, "cli")
    ]  # fmt: skip


def test_erasure_deletes_the_person_and_keeps_them_suppressed(
    app_client: TestClient, committed_db: Database, people: dict[str, int]
) -> None:
    bob = people["bob"]
    admin = key(committed_db, Scope.ADMIN, "ada")
    erased = app_client.post(f"/api/v1/contacts/{bob}/erasure", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True and erased.json()["contact_id"] == bob
    assert erased.json()["deleted"]["contacts"] == 1
    assert erased.json()["deleted"]["consent_records"] == 1
    reader = key(committed_db, Scope.READ)
    assert app_client.get(f"/api/v1/contacts/{bob}", headers=reader).status_code == 404
    again = app_client.post(f"/api/v1/contacts/{bob}/erasure", headers=admin)
    assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")
    with committed_db.unit_of_work() as session:
        reasons = {(s.kind, s.channel, s.reason) for s in session.scalars(select(Suppression))}
        request = session.scalars(select(DataRequest)).one()
        ada = access.find_user(session, "ada").id
    assert reasons == {("email", "all", "erased"), ("phone", "all", "erased")}
    assert (request.kind, request.contact_id, request.actor) == ("erase", None, f"user:{ada}")


@pytest.mark.parametrize(
    ("method", "path", "scope", "user"),
    [
        ("POST", "consent", Scope.READ, "ann"),
        ("GET", "personal-data", Scope.READ, "ann"),
        ("POST", "erasure", Scope.ADMIN, "max"),
        ("POST", "erasure", Scope.READ, None),
        ("GET", "consent", Scope.INGEST, None),
    ],
)
def test_scopes_and_roles_are_enforced(  # noqa: PLR0917 — pytest passes the parameters
    app_client: TestClient,
    committed_db: Database,
    people: dict[str, int],
    method: str,
    path: str,
    scope: Scope,
    user: str | None,
) -> None:
    body = {"action": "grant", "channel": "email"} if path == "consent" else None
    url = f"/api/v1/contacts/{people['ann']}/{path}"
    answer = app_client.request(method, url, json=body, headers=key(committed_db, scope, user))
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"


def test_a_contact_one_may_not_see_is_missing(
    app_client: TestClient, committed_db: Database, people: dict[str, int]
) -> None:
    missing = max(people.values()) + 100
    asks = [
        ("GET", "consent", None, key(committed_db, Scope.READ, "ann")),
        ("POST", "consent", {"action": "grant", "channel": "email"},
         key(committed_db, Scope.INGEST, "ann")),
        ("GET", "personal-data", None, key(committed_db, Scope.READ, "max")),
    ]  # fmt: skip
    for method, path, body, headers in asks:
        answers = {}
        for name, contact_id in (("bob", people["bob"]), ("missing", missing)):
            answer = app_client.request(
                method, f"/api/v1/contacts/{contact_id}/{path}", json=body, headers=headers
            )
            error = answer.json()["error"]
            answers[name] = (answer.status_code, error["message"].replace(str(contact_id), "N"))
        assert answers["bob"] == answers["missing"] == (404, "no contact N"), path
    with committed_db.unit_of_work() as session:
        assert session.scalars(select(DataRequest)).all() == []
