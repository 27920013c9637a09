"""In-process page fixtures: the app on a committed database, reached over https (the session
cookie is Secure), and users signed in through the real sign-in form.

`pages` is a started `TestClient`; `sign_in(client, name, role)` adds the user (once), sets a
password and signs in through /sign-in; `csrf_of(client)` reads the page's CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadsift.access import repository as access_repository
from leadsift.access import service as access
from leadsift.access import sessions
from leadsift.access.schemas import Role
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database

PASSWORD = "a fine password 42"  # noqa: S105 — the test users' password
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def make_pages(db_url: str, committed_db: Database) -> Iterator[Callable[..., TestClient]]:
    """Start more browsers (clients with their own cookies) on the same app settings."""
    started: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        app = create_app(Settings(database_url=db_url, **overrides))
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        client.__enter__()
        started.append(client)
        return client

    try:
        yield make
    finally:
        for client in reversed(started):
            client.__exit__(None, None, None)


@pytest.fixture
def pages(make_pages: Callable[..., TestClient]) -> TestClient:
    """One browser on the app, started, with no one signed in."""
    return make_pages()


def add_user(database: Database, name: str, role: Role = Role.ADMIN, **options: Any) -> None:
    """Add NAME with ROLE and the test password."""
    with database.unit_of_work() as session:
        access.add_user(session, name, role, **options)
        sessions.set_password(session, name, PASSWORD, None)


def csrf_of(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def sign_in(committed_db: Database) -> Callable[..., str]:
    """Sign CLIENT in as NAME (added with ROLE if new) through the form; returns the CSRF
    token of the session (for state-changing requests)."""

    def sign(client: TestClient, name: str, role: Role = Role.ADMIN, **options: Any) -> str:
        with committed_db.unit_of_work() as session:
            known = access_repository.user_by_name(session, name) is not None
        if not known:
            add_user(committed_db, name, role, **options)
        form = client.get("/sign-in")
        answer = client.post(
            "/sign-in",
            data={"name": name, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
        assert answer.status_code == 303, answer.text
        return _session_csrf(committed_db, client)

    return sign


def _session_csrf(database: Database, client: TestClient) -> str:
    token = client.cookies.get("leadsift_session")
    assert token, "no session cookie after signing in"
    with database.unit_of_work(read_only=True) as session:
        found = sessions.session_caller(session, token)
    assert found is not None
    return found.csrf_token
