"""Contacts over the API (both engines): the list, count, fields and export answer what
`leadsift contacts list|count|fields|export --json` print, limited to what the caller may see;
pages follow each other in keyset order; writes go through the import (de-duplicated on email,
phone and external id) and a batch answers per item; wrong scopes and roles get 403, a contact
one may not see 404, bad input 422 in the error shape (a criteria error with its line and column).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import service as access
from leadsift.access.models import AuditEntry
from leadsift.access.schemas import Scope
from leadsift.contacts.models import Contact, ImportBatch
from leadsift.db import Database
from tests.api.conftest import seed_people
from tests.api.test_route_policies import bearer
from tests.cli.helpers import run
from tests.files import write_csv

CITIES = ["Lyon", "Lyon", "Paris", None, "Nantes", "Lyon", "Paris"]
# Contact (by index) -> its owner: ann is an agent in max's team, bob an agent elsewhere.
OWNERS = {0: "ann", 2: "ann", 4: "bob"}
FIELDS = "id,email,city,plan,stage"


@pytest.fixture
def db(app_client: TestClient, committed_db: Database, tmp_path: Path) -> Database:
    """Seven contacts (a custom attribute `plan` on some), users and owners; the app started
    first, so the database is migrated."""
    assert app_client.app is not None
    rows = [
        [f"p{i}@example.org", city or "", "gold" if i % 2 else ""] for i, city in enumerate(CITIES)
    ]
    file = write_csv(tmp_path / "c.csv", ["email", "city", "plan"], rows)
    seed_people(committed_db, file, {f"p{i}@example.org": user for i, user in OWNERS.items()})
    return committed_db


def key(database: Database, scope: Scope, user: str | None = None) -> dict[str, str]:
    """The header of a new key of SCOPE acting for USER (None: an integration)."""
    with database.unit_of_work() as session:
        return bearer(access.create_key(session, f"{user} {scope}", scope, user=user).key)


def cli_json(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    """What `leadsift --json ARGS` prints."""
    result = run(capsys, "--db", url, "--json", *args)
    assert result.code == 0, result.err
    return result.json()


def _all_pages(client: TestClient, headers: dict[str, str], **params: Any) -> list[Any]:
    items, after, pages = [], None, 0
    while True:
        query = {**params, **({"after": after} if after else {})}
        answer = client.get("/api/v1/contacts", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        items += answer.json()["items"]
        after, pages = answer.json()["next"], pages + 1
        if after is None:
            return items
        assert pages < 20


@pytest.mark.parametrize("order_by", [None, "city", "city desc", "plan", "id desc", "interest"])
def test_pages_of_the_list_are_the_cli_list(
    app_client: TestClient,
    db: Database,
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    order_by: str | None,
) -> None:
    admin = key(db, Scope.READ)
    ordering = ("--order-by", order_by) if order_by else ()
    expected = cli_json(capsys, db_url, "contacts", "list", "--fields", FIELDS, *ordering)
    params = {"fields": FIELDS, "limit": 2, **({"order_by": order_by} if order_by else {})}
    assert _all_pages(app_client, admin, **params) == expected["contacts"]
    where = 'city = "Lyon"'
    filtered = cli_json(capsys, db_url, "contacts", "list", "--where", where, "--fields", FIELDS)
    assert (
        _all_pages(app_client, admin, where=where, fields=FIELDS, limit=1) == (filtered["contacts"])
    )


def test_count_and_fields_are_the_clis(
    app_client: TestClient, db: Database, capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    reader = key(db, Scope.READ)
    for where in ('city = "Lyon"', "plan is null", None):
        params = {"where": where} if where else {}
        answer = app_client.get("/api/v1/contacts:count", params=params, headers=reader)
        option = ("--where", where) if where else ()
        assert answer.json() == cli_json(capsys, db_url, "contacts", "count", *option)
    assert app_client.get("/api/v1/contacts:count", headers=reader).json() == {"count": 7}
    fields = app_client.get("/api/v1/contact-fields", headers=reader)
    assert fields.status_code == 200
    assert fields.json() == cli_json(capsys, db_url, "contacts", "fields")


def test_people_see_only_their_contacts(app_client: TestClient, db: Database) -> None:
    emails = {
        user: [c["email"] for c in _all_pages(app_client, key(db, Scope.READ, user), limit=1)]
        for user in ("ann", "bob", "max", "ada")
    }
    assert emails["ann"] == ["p0@example.org", "p2@example.org"]
    assert emails["bob"] == ["p4@example.org"]
    assert emails["max"] == emails["ann"]  # ann is in max's team
    assert len(emails["ada"]) == 7
    counted = app_client.get(
        "/api/v1/contacts:count",
        params={"where": 'city = "Lyon"'},
        headers=key(db, Scope.READ, "ann"),
    )
    assert counted.json() == {"count": 1}


@pytest.mark.parametrize(
    ("params", "code", "where"),
    [
        ({"where": 'city = "Lyon'}, "invalid_criteria", (1, 8)),
        ({"where": "cty = 1"}, "invalid_criteria", (1, 1)),
        ({"fields": "id,nope"}, "invalid_criteria", None),
        ({"order_by": "city sideways"}, "invalid_input", None),
        ({"after": "bm90IGEgY3Vyc29y"}, "invalid_input", None),
        ({"limit": 501}, "invalid_request", None),
        ({"where": "a", "segment": "b"}, "invalid_input", None),
    ],
)
def test_bad_lists_are_refused_with_where_they_break(
    app_client: TestClient,
    db: Database,
    params: dict[str, Any],
    code: str,
    where: tuple[int, int] | None,
) -> None:
    answer = app_client.get("/api/v1/contacts", params=params, headers=key(db, Scope.READ))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    if where is not None:
        assert (error["line"], error["column"]) == where
        assert error["message"].startswith(f"line {where[0]}, column {where[1]}:")
    if "where" in params:  # the count takes the same expression
        counted = app_client.get(
            "/api/v1/contacts:count", params=params, headers=key(db, Scope.READ)
        )
        assert (counted.status_code, counted.json()["error"]["code"]) == (422, code)


def test_a_cursor_belongs_to_its_order(app_client: TestClient, db: Database) -> None:
    reader = key(db, Scope.READ)
    first = app_client.get("/api/v1/contacts", params={"limit": 1}, headers=reader).json()
    other = app_client.get(
        "/api/v1/contacts", params={"limit": 1, "order_by": "city", "after": first["next"]},
        headers=reader,
    )  # fmt: skip
    assert other.status_code == 422
    assert "ordered by id" in other.json()["error"]["message"]


def test_the_export_is_the_clis_and_is_audited(
    app_client: TestClient,
    db: Database,
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.csv"
    cli_json(capsys, db_url, "contacts", "export", str(out), "--where", 'city = "Lyon"')
    answer = app_client.get(
        "/api/v1/contacts:export", params={"where": 'city = "Lyon"'}, headers=key(db, Scope.READ)
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content == out.read_bytes()
    mine = app_client.get("/api/v1/contacts:export", headers=key(db, Scope.READ, "max"))
    rows = list(csv.DictReader(io.StringIO(mine.text)))
    assert [r["email"] for r in rows] == ["p0@example.org", "p2@example.org"]
    with db.unit_of_work() as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "contacts_exported")
        ).all()
        max_id = access.find_user(session, "max").id
    assert [(e.actor.split(":")[0], e.details) for e in exports] == [
        ("cli", {"count": 3}), ("key", {"count": 3}), ("user", {"count": 2})
    ]  # fmt: skip
    assert exports[-1].actor == f"user:{max_id}"
    refused = app_client.get("/api/v1/contacts:export", headers=key(db, Scope.READ, "ann"))
    assert refused.status_code == 403


def _contact(database: Database, email: str) -> Contact:
    with database.unit_of_work() as session:
        found = session.scalars(select(Contact).where(Contact.email == email)).one()
        session.expunge(found)
        return found


def test_a_contact_is_created_then_updated_as_an_import_would(
    app_client: TestClient, db: Database
) -> None:
    writer = key(db, Scope.INGEST)
    body = {
        "email": " New@Example.org ", "phone": "06 12 34 56 78", "first_name": "Nina",
        "consent": {"email": True}, "attributes": {"plan": "silver", "seats": 3},
    }  # fmt: skip
    created = app_client.post("/api/v1/contacts", json=body, headers=writer)
    assert created.status_code == 201, created.text
    stored = _contact(db, "new@example.org")
    assert created.json()["id"] == stored.id and created.json()["created"] is True
    assert (stored.phone, stored.first_name, stored.attrs) == (
        "+33612345678", "Nina", {"plan": "silver", "seats": 3}
    )  # fmt: skip
    # Found by its phone; a stored field is kept unless `update`.
    again = {"phone": "+33612345678", "first_name": "Nora", "city": "Lyon"}
    kept = app_client.post("/api/v1/contacts", json=again, headers=writer)
    assert (kept.status_code, kept.json()["id"], kept.json()["created"]) == (200, stored.id, False)
    assert (_contact(db, "new@example.org").first_name, _contact(db, "new@example.org").city) == (
        "Nina", "Lyon"
    )  # fmt: skip
    replaced = app_client.post("/api/v1/contacts?update=true", json=again, headers=writer)
    assert replaced.status_code == 200
    assert _contact(db, "new@example.org").first_name == "Nora"
    with db.unit_of_work() as session:
        batch = session.get(ImportBatch, replaced.json()["batch_id"])
        assert batch is not None and batch.file_name == "api-contact.jsonl"
        assert batch.options["update"] is True


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "not-an-email"}, 422, "invalid_email"),
        ({"first_name": "Nobody"}, 422, "no_identifier"),
        ({"email": "p1@example.org", "external_id": "x", "birth_date": "31/02/1990"}, 422,
         "invalid_birth_date"),
        ({"email": "p1@example.org", "phone": "+33612345678"}, 409, "identity_conflict"),
        ({"email": "a@example.org", "attributes": {"stage": "x"}}, 422, "invalid_request"),
        ({"email": "a@example.org", "extra": 1}, 422, "invalid_request"),
        ({"email": "a@example.org\x00"}, 422, "invalid_request"),
    ],
)  # fmt: skip
def test_bad_contacts_are_refused_and_nothing_is_written(
    app_client: TestClient, db: Database, body: dict[str, Any], status: int, code: str | None
) -> None:
    writer = key(db, Scope.INGEST)
    if code == "identity_conflict":  # p0 gets the phone first; then p1's email claims it
        given = {"email": "p0@example.org", "phone": "+33612345678"}
        assert app_client.post("/api/v1/contacts", json=given, headers=writer).status_code == 200
    with db.unit_of_work() as session:
        before = session.scalars(select(Contact.id)).all()
    answer = app_client.post("/api/v1/contacts", json=body, headers=writer)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    with db.unit_of_work() as session:
        assert session.scalars(select(Contact.id)).all() == before


def test_a_batch_answers_each_contact(app_client: TestClient, db: Database) -> None:
    contacts = [
        {"email": "one@example.org"},
        {"email": "broken"},
        {"email": "p0@example.org", "city": "Brest"},
        {"email": "one@example.org", "city": "Lille"},
        {"emial": "typo@example.org"},
        {},
        {"external_id": "crm-7", "phone": "+33699999999"},
    ]
    answer = app_client.post(
        "/api/v1/contacts:batch", json={"contacts": contacts}, headers=key(db, Scope.INGEST)
    )
    assert answer.status_code == 207, answer.text
    items = answer.json()["items"]
    assert [(i["index"], i["status"]) for i in items] == [
        (0, 201), (1, 422), (2, 200), (3, 200), (4, 422), (5, 422), (6, 201)
    ]  # fmt: skip
    one = _contact(db, "one@example.org")
    assert items[0]["id"] == items[3]["id"] == one.id and one.city == "Lille"
    assert items[2]["id"] == _contact(db, "p0@example.org").id
    assert _contact(db, "p0@example.org").city == "Lyon"  # filled only when empty
    assert items[1]["error"]["code"] == "invalid_email"
    assert items[4]["error"]["code"] == "invalid_request"
    assert items[4]["error"]["details"][0]["field"] == "emial"
    assert items[5]["error"]["code"] == "no_identifier"
    assert {"id", "error"} & {k for k, v in items[6].items() if v is not None} == {"id"}
    assert answer.json()["batch_id"] is not None
    too_many = {"contacts": [{"email": f"x{i}@example.org"} for i in range(1_001)]}
    refused = app_client.post(
        "/api/v1/contacts:batch", json=too_many, headers=key(db, Scope.INGEST)
    )
    assert refused.status_code == 422


def test_a_contact_is_changed_by_id(app_client: TestClient, db: Database) -> None:
    p0 = _contact(db, "p0@example.org")
    manager = key(db, Scope.ADMIN, "max")
    # Its only identifier cannot be replaced: the change would not find it.
    orphan = app_client.patch(
        f"/api/v1/contacts/{p0.id}", json={"email": "zero@example.org"}, headers=manager
    )
    assert orphan.status_code == 422
    assert "keep one of its email" in orphan.json()["error"]["message"]
    given = {"external_id": "crm-0"}
    assert app_client.patch(f"/api/v1/contacts/{p0.id}", json=given, headers=manager).is_success
    changed = app_client.patch(
        f"/api/v1/contacts/{p0.id}",
        json={"city": "Rennes", "email": "zero@example.org", "attributes": {"plan": "bronze"}},
        headers=manager,
    )
    assert changed.status_code == 200, changed.text
    shown = changed.json()
    assert (shown["id"], shown["email"], shown["city"], shown["attrs"]["plan"]) == (
        p0.id, "zero@example.org", "Rennes", "bronze"
    )  # fmt: skip
    assert app_client.get(f"/api/v1/contacts/{p0.id}", headers=manager).json() == shown
    # Not his team's contact: exactly as a missing one.
    p1 = _contact(db, "p1@example.org")
    hidden = app_client.patch(f"/api/v1/contacts/{p1.id}", json={"city": "X"}, headers=manager)
    missing = app_client.patch("/api/v1/contacts/99999", json={"city": "X"}, headers=manager)
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["error"]["message"].replace(str(p1.id), "N") == (
        missing.json()["error"]["message"].replace("99999", "N")
    )
    admin = key(db, Scope.ADMIN)
    taken = app_client.patch(
        f"/api/v1/contacts/{p1.id}", json={"external_id": "crm-0"}, headers=admin
    )
    assert taken.status_code == 409
    assert f"contact {p0.id}" in taken.json()["error"]["message"]
    given = {"external_id": "crm-1"}
    assert app_client.patch(f"/api/v1/contacts/{p1.id}", json=given, headers=admin).is_success
    # A manager is not told which contact holds it (p1 is not his team's).
    claimed = app_client.patch(f"/api/v1/contacts/{p0.id}", json=given, headers=manager)
    assert claimed.status_code == 409
    assert claimed.json()["error"] == {
        "code": "identity_conflict", "message": "external_id: it belongs to another contact"
    }  # fmt: skip
    assert _contact(db, "zero@example.org").external_id == "crm-0"


@pytest.mark.parametrize(
    ("method", "path", "scope", "user"),
    [
        ("POST", "/api/v1/contacts", Scope.READ, None),
        ("POST", "/api/v1/contacts", Scope.INGEST, "max"),
        ("POST", "/api/v1/contacts:batch", Scope.ADMIN, "ann"),
        ("PATCH", "/api/v1/contacts/1", Scope.ADMIN, "ann"),
        ("PATCH", "/api/v1/contacts/1", Scope.INGEST, None),
        ("GET", "/api/v1/contacts", Scope.INGEST, None),
    ],
)
def test_scopes_and_roles_are_enforced(  # noqa: PLR0917 — pytest passes the parameters
    app_client: TestClient, db: Database, method: str, path: str, scope: Scope, user: str | None
) -> None:
    body = {"contacts": [{"email": "x@example.org"}]} if path.endswith("batch") else {"city": "X"}
    answer = app_client.request(
        method, path, json=body if method != "GET" else None, headers=key(db, scope, user)
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
