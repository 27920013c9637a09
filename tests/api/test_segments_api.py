"""Saved segments over the API: admins and managers save (create or update), admins delete,
anyone who reads lists them and counts the contacts they may see; wrong scopes and roles get
403, invalid expressions 422 with where they break."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import service as access
from leadsift.access.models import AuditEntry
from leadsift.access.schemas import Scope
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database
from tests.api.conftest import seed_people
from tests.api.test_route_policies import bearer
from tests.files import write_csv

CITIES = ["Lyon", "Lyon", "Lyon", "Paris", "Paris", "Nantes"]
# Contact (by index) -> its owner: ann and bob are agents, ann in max's team.
OWNERS = {0: "ann", 1: "bob", 3: "ann"}
LYON = {"expression": 'city = "Lyon"', "description": "Lyon team"}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    """The app with the segment routes (included here until api.py includes them)."""
    app = create_app(Settings(database_url=db_url))
    with TestClient(app) as started:
        yield started


@pytest.fixture
def people(client: TestClient, committed_db: Database, tmp_path: Path) -> Database:
    """Six contacts, three of them owned; users ada (admin), max (manager of ann), ann, bob."""
    rows = [[f"p{i}@example.org", city] for i, city in enumerate(CITIES)]
    file = write_csv(tmp_path / "c.csv", ["email", "city"], rows)
    seed_people(committed_db, file, {f"p{i}@example.org": user for i, user in OWNERS.items()})
    return committed_db


def _key(database: Database, scope: Scope, user: str | None = None) -> dict[str, str]:
    with database.unit_of_work() as session:
        created = access.create_key(session, f"{user or 'integration'} {scope}", scope, user=user)
    return bearer(created.key)


def test_save_list_count_update_delete(client: TestClient, people: Database) -> None:
    admin = _key(people, Scope.ADMIN)
    created = client.put("/api/v1/segments/Lyon", json=LYON, headers=admin)
    assert created.status_code == 200, created.text
    body = created.json()
    assert {k: body[k] for k in ("name", "expression", "description", "created", "changed")} == {
        "name": "lyon", **LYON, "created": True, "changed": True
    }  # fmt: skip
    assert body["created_by"].startswith("key:")
    again = client.put("/api/v1/segments/lyon", json=LYON, headers=admin).json()
    assert (again["id"], again["created"], again["changed"]) == (body["id"], False, False)

    listed = client.get("/api/v1/segments", headers=admin)
    assert listed.status_code == 200
    assert [(s["name"], s["expression"]) for s in listed.json()["segments"]] == [
        ("lyon", 'city = "Lyon"')
    ]
    count = client.get("/api/v1/segments/LYON/count", headers=admin)
    assert count.json() == {"name": "lyon", "count": 3}

    # Updated: the description is replaced too (absent clears it).
    moved = client.put("/api/v1/segments/lyon", json={"expression": 'city != "Lyon"'},
                       headers=admin).json()  # fmt: skip
    assert (moved["changed"], moved["description"]) == (True, None)
    assert client.get("/api/v1/segments/lyon/count", headers=admin).json()["count"] == 3

    deleted = client.delete("/api/v1/segments/lyon", headers=admin)
    assert deleted.status_code == 200 and deleted.json()["name"] == "lyon"
    for answer in (
        client.delete("/api/v1/segments/lyon", headers=admin),
        client.get("/api/v1/segments/lyon/count", headers=admin),
    ):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
    with people.unit_of_work(read_only=True) as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == "segment", AuditEntry.target_id == body["id"])
            .order_by(AuditEntry.id)
        ).all()
    assert [(e.actor, e.action) for e in entries] == [
        (body["created_by"], "segment_saved"),
        (body["created_by"], "segment_saved"),
        (body["created_by"], "segment_deleted"),
    ]


def test_the_count_is_what_the_caller_may_see(client: TestClient, people: Database) -> None:
    client.put("/api/v1/segments/lyon", json=LYON, headers=_key(people, Scope.ADMIN))
    seen = {
        user: client.get("/api/v1/segments/lyon/count", headers=_key(people, Scope.READ, user))
        for user in ("ada", "max", "ann", "bob")
    }
    # ann owns p0 (Lyon) and p3 (Paris); bob p1 (Lyon); max manages ann.
    assert {user: answer.json()["count"] for user, answer in seen.items()} == {
        "ada": 3, "max": 1, "ann": 1, "bob": 1
    }  # fmt: skip
    integration = client.get("/api/v1/segments/lyon/count", headers=_key(people, Scope.READ))
    assert integration.json()["count"] == 3


def test_an_invalid_expression_is_refused_with_its_position(
    client: TestClient, people: Database
) -> None:
    admin = _key(people, Scope.ADMIN)
    refused = client.put("/api/v1/segments/old", json={"expression": "agee >= 30"}, headers=admin)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_criteria"
    assert error["message"].startswith("line 1, column 1: unknown field 'agee'")
    late = client.put("/api/v1/segments/old", json={"expression": 'city = "Lyon" and'},
                      headers=admin)  # fmt: skip
    assert late.status_code == 422 and "line 1, column" in late.json()["error"]["message"]
    for path, body in (
        ("/api/v1/segments/old%20people", {"expression": "age > 3"}),  # not a handle
        ("/api/v1/segments/old", {"expression": ""}),
        ("/api/v1/segments/old", {"expression": "age > 3", "owner": "x"}),  # unknown field
        ("/api/v1/segments/old", {"expression": "age > 3", "description": "x" * 301}),
    ):
        answer = client.put(path, json=body, headers=admin)
        assert answer.status_code == 422, (path, body, answer.text)
        assert answer.json()["error"]["code"] == "invalid_request"
    assert client.get("/api/v1/segments", headers=admin).json() == {"segments": []}


def test_scopes_and_roles(client: TestClient, people: Database) -> None:
    path = "/api/v1/segments/lyon"
    assert client.put(path, json=LYON, headers=_key(people, Scope.ADMIN, "max")).status_code == 200
    refusals = {
        "read key saves": client.put(path, json=LYON, headers=_key(people, Scope.READ)),
        "ingest key lists": client.get("/api/v1/segments", headers=_key(people, Scope.INGEST)),
        "ingest key counts": client.get(f"{path}/count", headers=_key(people, Scope.INGEST)),
        "read key deletes": client.delete(path, headers=_key(people, Scope.READ)),
        "agent saves": client.put(path, json=LYON, headers=_key(people, Scope.ADMIN, "ann")),
        "manager deletes": client.delete(path, headers=_key(people, Scope.ADMIN, "max")),
    }
    assert {what: answer.status_code for what, answer in refusals.items()} == dict.fromkeys(
        refusals, 403
    )
    assert refusals["read key saves"].json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/segments").status_code == 401
    # Agents read the segments (and count what they may see).
    agent = client.get("/api/v1/segments", headers=_key(people, Scope.READ, "ann"))
    assert [s["name"] for s in agent.json()["segments"]] == ["lyon"]
    assert client.delete(path, headers=_key(people, Scope.ADMIN, "ada")).status_code == 200


def test_the_routes_are_documented(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operations = {
        operation["operationId"]: set(operation["responses"])
        for item in document["paths"].values()
        for operation in item.values()
        if operation["operationId"].endswith(("segment", "segments"))
    }
    assert operations == {
        "list_segments": {"200", "401", "403", "429"},
        "save_segment": {"200", "400", "401", "403", "413", "422", "429"},
        "delete_segment": {"200", "401", "403", "404", "422", "429"},
        "count_segment": {"200", "401", "403", "404", "422", "429"},
    }
