"""In-process API fixtures: the app on a database tests may commit to (SQLite and PostgreSQL).

`app_client` is a `TestClient` entered as a context manager, so the app's lifespan runs (its
database is opened and migrated, its event writer thread started and stopped). `make_client`
builds more, with settings overridden (e.g. a tight rate limit). `api_key(scope)` creates a key
and returns it; `committed_db` is the same database for the test's own reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadsift.access import service as access
from leadsift.access.schemas import Role, Scope
from leadsift.access.service import create_key, parse_scope
from leadsift.agents.service import assign_contact
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.contacts import service as contacts
from leadsift.contacts.schemas import ImportOptions
from leadsift.db import Database


@pytest.fixture
def make_client(db_url: str) -> Iterator[Callable[..., TestClient]]:
    """Build started apps on db_url, with settings overridden: make_client(tracking_burst=2)."""
    started: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(Settings(database_url=db_url, **overrides)))
        client.__enter__()
        started.append(client)
        return client

    try:
        yield make
    finally:
        for client in reversed(started):
            client.__exit__(None, None, None)


@pytest.fixture
def app_client(make_client: Callable[..., TestClient]) -> TestClient:
    """The app with default settings, started (lifespan run) and stopped after the test."""
    return make_client()


@pytest.fixture
def api_key(committed_db: Database) -> Callable[..., str]:
    """Create an API key of a scope (ingest, read, admin) and return the key itself."""

    def make(scope: str = "ingest", name: str | None = None) -> str:
        with committed_db.unit_of_work() as session:
            return create_key(session, name or f"test {scope}", parse_scope(scope)).key

    return make


def user_key(database: Database, name: str, role: Role, scope: Scope = Scope.READ) -> str:
    """A key of SCOPE acting for a new user NAME of ROLE."""
    with database.unit_of_work() as session:
        access.add_user(session, name, role)
        return access.create_key(session, f"{name} {scope.value}", scope, user=name).key


def seed_people(database: Database, table: Path, owners: Mapping[str, str]) -> None:
    """Import the contacts of TABLE, add team north with ada (admin), max (its manager), ann
    (its agent) and bob (an agent alone), and give each contact OWNERS names (by email) to its
    user."""
    with database.unit_of_work() as session:
        contacts.import_contacts(session, table, ImportOptions())
        access.add_team(session, "north")
        access.add_user(session, "ada", Role.ADMIN)
        access.add_user(session, "max", Role.MANAGER, teams=["north"])
        access.add_user(session, "ann", Role.AGENT, teams=["north"])
        access.add_user(session, "bob", Role.AGENT)
        for ref, user in owners.items():
            assign_contact(session, ref, to_user=user, to_team=None, caller=None)
