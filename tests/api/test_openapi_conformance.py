"""The API keeps the promises of its own OpenAPI document (schemathesis, in-process).

Every operation of `/openapi.json` is called with generated requests, valid and invalid, under
an admin key, and every answer goes through schemathesis's default checks: no server error, a
documented status, content type, headers and body, invalid data refused with a 4xx, valid data
not refused. The app runs in-process with its lifespan (schemathesis starts it on the first
request and its pytest plugin stops it when each test ends), on a fresh migrated database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.generation.case import Case

from leadsift.api import create_app
from leadsift.config import Settings


def _document() -> dict[str, Any]:
    # The document does not depend on the database: an app built but never started (nothing
    # is opened) gives it at collection time; a test checks the served one is the same.
    return create_app(Settings(database_url="sqlite://")).openapi()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture
def app(db_url: str) -> FastAPI:
    """The app on a fresh migrated database; schemathesis runs its lifespan."""
    # A burst no test reaches: the public routes are tested, not their rate limit.
    return create_app(Settings(database_url=db_url, tracking_burst=1_000_000))


@pytest.fixture
def admin_headers(api_key: Callable[..., str]) -> dict[str, str]:
    """The header of an admin key (scope admin, acting for no user)."""
    return {"Authorization": f"Bearer {api_key('admin')}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_documented_promises(
    case: Case, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(headers=admin_headers, app=app)


def test_the_tested_document_is_the_served_one(app_client: TestClient) -> None:
    served = app_client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == _document()
    assert {"/api/v1/events", "/api/v1/contacts/{contact_id}"} <= set(served.json()["paths"])
