"""POST /api/v1/events and GET /api/v1/contacts/{id} through the real app (both engines):
keys and scopes, size limits, per-event errors, idempotency, real-time qualification."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadsift import Workspace
from leadsift.access import service as access
from leadsift.access.schemas import Scope
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database

CONTACTS = """email,first_name,age,city
lea@example.com,Léa,31,Lyon
marc@example.com,Marc,44,Lyon
nina@example.com,Nina,17,Paris
"""
PLAYBOOK = """
name: API test offer
eligibility: age >= 18
fit:
  - {when: 'city = "Lyon"', points: 10}
interest:
  half_life: 14d
  rules:
    - {event: page_view, where: 'properties.path startswith "/pricing"', points: 10, cap: 30}
    - {event: form_submitted, points: 40}
qualify: fit >= 10 and interest >= 40
"""
MAX_BODY = 200_000


@pytest.fixture
def workspace_url(committed_db_url: str, tmp_path: Path) -> str:
    (tmp_path / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    with Workspace(committed_db_url) as workspace:
        workspace.import_contacts(tmp_path / "contacts.csv")
        workspace.qualify(tmp_path / "playbook.yaml")
    return committed_db_url


@pytest.fixture
def ids(workspace_url: str) -> dict[str, int]:
    """Contact ids by first name (PostgreSQL's sequences do not restart between tests)."""
    with Workspace(workspace_url) as workspace:
        return {
            name: workspace.contact(f"{name.lower()}@example.com").id
            for name in ("Lea", "Marc", "Nina")
        }


@pytest.fixture
def client(workspace_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=workspace_url, api_max_body_bytes=MAX_BODY)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def key(workspace_url: str) -> Callable[[Scope], str]:
    database = Database(workspace_url).ready()

    def make(scope: Scope) -> str:
        with database.unit_of_work() as session:
            return access.create_key(session, f"test {scope.value}", scope).key

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def recent(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def test_keys_and_scopes(
    client: TestClient, key: Callable[[Scope], str], ids: dict[str, int]
) -> None:
    event = {"type": "page_view", "email": "lea@example.com"}
    assert client.post("/api/v1/events", json=event).status_code == 401
    wrong = client.post("/api/v1/events", json=event, headers=bearer("lsk_nope"))
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthenticated"
    reader, ingest, admin = key(Scope.READ), key(Scope.INGEST), key(Scope.ADMIN)
    forbidden = client.post("/api/v1/events", json=event, headers=bearer(reader))
    assert forbidden.status_code == 403
    assert "needs ingest" in forbidden.json()["error"]["message"]
    assert client.get(f"/api/v1/contacts/{ids['Lea']}", headers=bearer(ingest)).status_code == 403
    in_url = client.get(f"/api/v1/contacts/{ids['Lea']}?api_key={admin}", headers=bearer(admin))
    assert in_url.status_code == 401
    assert "URL" in in_url.json()["error"]["message"]
    assert client.post("/api/v1/events", json=event, headers=bearer(admin)).status_code == 200


def test_a_lead_crossing_the_threshold_is_qualified_before_the_answer(
    client: TestClient, key: Callable[[Scope], str], ids: dict[str, int]
) -> None:
    token = key(Scope.ADMIN)
    contact = client.get(f"/api/v1/contacts/{ids['Lea']}", headers=bearer(token)).json()
    assert (contact["email"], contact["stage"]) == ("lea@example.com", "lead")
    views = [
        {
            "type": "page_view",
            "email": "lea@example.com",
            "occurred_at": recent(h),
            "properties": {"path": "/pricing"},
            "idempotency_key": f"view-{h}",
        }
        for h in (3, 2)
    ]
    started = time.monotonic()
    answer = client.post("/api/v1/events", json={"events": views}, headers=bearer(token))
    assert answer.json() == {"inserted": 2, "duplicates": 0, "errors": []}
    assert (
        client.get(f"/api/v1/contacts/{ids['Lea']}", headers=bearer(token)).json()["stage"]
        == "lead"
    )
    form = {"type": "form_submitted", "contact_id": ids["Lea"], "occurred_at": recent(1)}
    assert client.post("/api/v1/events", json=form, headers=bearer(token)).status_code == 200
    contact = client.get(f"/api/v1/contacts/{ids['Lea']}", headers=bearer(token)).json()
    assert time.monotonic() - started < 1.0
    assert (contact["stage"], contact["stage_reason"]) == ("qualified", "hand_raiser")
    assert contact["scores"]["fit"] == 10
    assert contact["scores"]["interest"] > 55  # two pricing views (≈20) and the form (≈40)
    with Workspace(client.app.state.settings.database_url) as workspace:  # type: ignore[attr-defined]
        change = workspace.explain(ids["Lea"]).history[-1]
    assert (change.to_stage, change.reason) == ("qualified", "hand_raiser")
    assert change.explanation is not None
    listed = [
        item["type"]
        for rule in change.explanation["interest"]["rules"]
        for item in rule["contributions"]
    ]
    assert sorted(listed) == ["form_submitted", "page_view", "page_view"]
    timeline = client.get(f"/api/v1/contacts/{ids['Lea']}/events", headers=bearer(token)).json()
    assert [e["type"] for e in timeline] == ["page_view", "page_view", "form_submitted"]


def test_the_same_batch_five_times_stores_it_once(
    client: TestClient, key: Callable[[Scope], str], ids: dict[str, int]
) -> None:
    token = key(Scope.ADMIN)
    batch = {
        "events": [
            {
                "type": "page_view",
                "email": "marc@example.com",
                "occurred_at": recent(n),
                "properties": {"path": "/pricing"},
            }
            for n in range(1, 6)
        ]
    }
    answers = [
        client.post("/api/v1/events", json=batch, headers=bearer(token)).json() for _ in range(5)
    ]
    assert answers[0] == {"inserted": 5, "duplicates": 0, "errors": []}
    assert all(a == {"inserted": 0, "duplicates": 5, "errors": []} for a in answers[1:])
    contact = client.get(f"/api/v1/contacts/{ids['Marc']}", headers=bearer(token)).json()
    assert contact["stage"] == "lead"
    assert contact["scores"]["interest"] == pytest.approx(30.0, abs=0.5)  # capped at 30
    assert (
        len(client.get(f"/api/v1/contacts/{ids['Marc']}/events", headers=bearer(token)).json()) == 5
    )


def test_each_event_of_a_batch_is_judged_alone(
    client: TestClient, key: Callable[[Scope], str], ids: dict[str, int]
) -> None:
    token = key(Scope.INGEST)
    batch = {
        "events": [
            {"type": "page_view", "email": "lea@example.com", "occurred_at": recent(1)},
            {"type": "page_view", "email": "nobody@example.com"},
            {"type": "page_view", "contact_id": "abc"},
            {"type": "page_view", "contact_id": ids["Lea"], "colour": "red"},
            {"type": "page_view", "contact_id": ids["Lea"], "occurred_at": recent(-2)},
            {"type": "page_view", "contact_id": ids["Lea"], "occurred_at": "2026-01-01T10:00:00"},
            {"type": "a", "contact_id": ids["Lea"], "idempotency_key": "k1"},
            {"type": "b", "contact_id": ids["Lea"], "idempotency_key": "k1"},
        ]
    }
    answer = client.post("/api/v1/events", json=batch, headers=bearer(token))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["inserted"], body["duplicates"]) == (2, 0)
    codes = {error["index"]: error["code"] for error in body["errors"]}
    assert codes == {
        1: "unknown_contact",
        2: "invalid_event",
        3: "invalid_event",
        4: "occurred_in_future",
        5: "invalid_event",
        7: "idempotency_conflict",
    }
    messages = {error["index"]: error["message"] for error in body["errors"]}
    assert "nobody@example.com" in messages[1]
    assert "colour: unknown field" in messages[3]
    assert "timezone" in messages[5]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "page_view", "email": "lea@example.com", "colour": 1}, 422, "invalid_event"),
        ({"type": "page_view", "email": "ghost@example.com"}, 422, "unknown_contact"),
        ({"events": [], "extra": 1}, 422, "invalid_input"),
        ([1, 2], 422, "invalid_input"),
    ],
)
def test_bad_requests(
    client: TestClient, key: Callable[[Scope], str], body: Any, status: int, code: str
) -> None:
    answer = client.post("/api/v1/events", json=body, headers=bearer(key(Scope.INGEST)))
    assert answer.status_code == status
    document = answer.json()
    found = document["errors"][0]["code"] if "errors" in document else document["error"]["code"]
    assert found == code


def test_malformed_json_oversized_bodies_and_batches(
    client: TestClient, key: Callable[[Scope], str], ids: dict[str, int]
) -> None:
    headers = {**bearer(key(Scope.INGEST)), "Content-Type": "application/json"}
    malformed = client.post("/api/v1/events", content=b'{"type": "page_view",', headers=headers)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    big = json.dumps({"type": "x", "contact_id": ids["Lea"], "properties": {"p": "x" * MAX_BODY}})
    too_big = client.post("/api/v1/events", content=big.encode(), headers=headers)
    assert too_big.status_code == 413
    batch = {"events": [{"type": "x", "contact_id": ids["Lea"]}] * 1_001}
    too_many = client.post("/api/v1/events", json=batch, headers=headers)
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "batch_too_large"
    assert "at most 1,000 events" in too_many.json()["error"]["message"]


def test_a_reused_key_for_another_event_is_a_conflict(
    client: TestClient, key: Callable[[Scope], str], ids: dict[str, int]
) -> None:
    token = key(Scope.INGEST)
    first = {
        "type": "purchase",
        "contact_id": ids["Marc"],
        "idempotency_key": "order-1",
        "properties": {"amount": 10},
    }
    assert client.post("/api/v1/events", json=first, headers=bearer(token)).json()["inserted"] == 1
    again = client.post("/api/v1/events", json=first, headers=bearer(token))
    assert again.json() == {"inserted": 0, "duplicates": 1, "errors": []}
    other = {**first, "properties": {"amount": 99}}
    conflict = client.post("/api/v1/events", json=other, headers=bearer(token))
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "idempotency_conflict"


def test_contacts_by_id_only(
    client: TestClient, key: Callable[[Scope], str], ids: dict[str, int]
) -> None:
    token = key(Scope.READ)
    missing = client.get("/api/v1/contacts/999", headers=bearer(token))
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "no contact 999"}}
    contact = client.get(f"/api/v1/contacts/{ids['Nina']}", headers=bearer(token)).json()
    assert (contact["stage"], contact["stage_reason"]) == ("unqualified", "criteria_not_met")
    assert contact["scores"] == {
        "fit": 0,
        "interest": 0.0,
        "interest_at": None,
        "probability": None,
        "priority": None,
        "predicted_at": None,
    }


def test_the_openapi_document_describes_the_event_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    body = document["paths"]["/api/v1/events"]["post"]["requestBody"]
    refs = body["content"]["application/json"]["schema"]["oneOf"]
    assert {r["$ref"] for r in refs} == {
        "#/components/schemas/EventIn",
        "#/components/schemas/EventBatchIn",
    }
    assert "occurred_at" in document["components"]["schemas"]["EventIn"]["properties"]
