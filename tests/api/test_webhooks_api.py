"""Webhook endpoints over the API: admins list, add (the secret in that answer only), disable,
and read deliveries; other keys are refused; bad bodies get a clear 422."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import service as access
from leadsift.access.endpoints import route_policies
from leadsift.access.models import AuditEntry
from leadsift.access.schemas import Role, Scope
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.webhooks.endpoints import router


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    """The app with the webhook routes (included here until api.py includes them)."""
    app = create_app(Settings(database_url=db_url))
    if not any(getattr(r, "path", "") == "/api/v1/webhooks" for r in app.routes):
        app.include_router(router)
    with TestClient(app) as started:
        yield started


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_admin_adds_lists_reads_and_disables(
    client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    headers = _auth(api_key("admin"))
    body = {"url": "https://crm.example.com/hooks", "events": ["qualified", "contact.customer"],
            "description": "CRM"}  # fmt: skip
    created = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["secret"].startswith("whsec_")
    assert document["events"] == ["contact.qualified", "contact.customer"]
    webhook = document["id"]

    listed = client.get("/api/v1/webhooks", headers=headers)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["endpoints"]] == [webhook]
    assert document["secret"] not in listed.text

    deliveries = client.get(f"/api/v1/webhooks/{webhook}/deliveries", headers=headers)
    assert deliveries.json() == {"deliveries": []}

    disabled = client.delete(f"/api/v1/webhooks/{webhook}", headers=headers)
    assert disabled.status_code == 200
    assert disabled.json()["disabled_at"] is not None
    with committed_db.unit_of_work() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.target_type == "webhook", AuditEntry.target_id == webhook
            )
        ).all()
    assert sorted(actions) == ["webhook_created", "webhook_disabled"]


def test_a_score_threshold_over_the_api(client: TestClient, api_key: Callable[..., str]) -> None:
    body = {"url": "https://crm.example.com/h", "events": ["score_crossed"],
            "threshold": "probability>=0.4"}  # fmt: skip
    created = client.post("/api/v1/webhooks", json=body, headers=_auth(api_key("admin")))
    assert created.status_code == 201, created.text
    assert created.json()["threshold"] == "probability>=0.4"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "file:///etc/passwd", "events": ["qualified"]}, "url"),
        ({"url": "https://a:b@example.com/", "events": ["qualified"]}, "credentials"),
        ({"url": "https://example.com/", "events": ["bought"]}, "events"),
        ({"url": "https://example.com/", "events": ["score_crossed"]}, "needs a threshold"),
        ({"url": "https://example.com:99999/", "events": ["qualified"]}, "http(s) URL"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"url": "https://example.com/", "events": ["qualified"], "secret": "mine"}, "secret"),
    ],
)
def test_bad_bodies_are_refused_clearly(
    client: TestClient, api_key: Callable[..., str], body: dict[str, Any], message: str
) -> None:
    headers = _auth(api_key("admin"))
    answer = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert answer.status_code == 422
    assert message in answer.text
    assert client.get("/api/v1/webhooks", headers=headers).json() == {"endpoints": []}


def test_unknown_endpoints_are_404(client: TestClient, api_key: Callable[..., str]) -> None:
    headers = _auth(api_key("admin"))
    for method, path in (("DELETE", "/api/v1/webhooks/42"),
                         ("GET", "/api/v1/webhooks/42/deliveries")):  # fmt: skip
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
    huge = client.delete(f"/api/v1/webhooks/{2**63}", headers=headers)
    assert huge.status_code == 422


def test_only_admins_manage_webhooks(
    client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    with committed_db.unit_of_work() as session:
        access.add_user(session, "mo", Role.MANAGER)
        manager_key = access.create_key(session, "mo's", Scope.ADMIN, user="mo").key
    for key in (api_key("read"), api_key("ingest"), manager_key):
        assert client.get("/api/v1/webhooks", headers=_auth(key)).status_code == 403
        body = {"url": "https://example.com/", "events": ["qualified"]}
        assert client.post("/api/v1/webhooks", json=body, headers=_auth(key)).status_code == 403
    assert client.get("/api/v1/webhooks").status_code == 401


def test_every_webhook_route_declares_its_policy() -> None:
    routes = [r for r in router.routes if getattr(r, "path", "").startswith("/api/v1/webhooks")]
    assert len(routes) == 4
    for route in routes:
        (policy,) = route_policies(route)  # type: ignore[arg-type]
        assert not policy.public
    assert {r.operation_id for r in routes} == {  # type: ignore[attr-defined]
        "list_webhooks", "add_webhook", "disable_webhook", "list_webhook_deliveries",
    }  # fmt: skip
