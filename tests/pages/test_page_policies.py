"""Every page, taken from the app's own routes: sign-in first, CSRF on changes, roles, and an
agent asking for another agent's contact gets the same 404 as for a missing one.

The routes come from the app (the route-policy walk of tests/api), so a page added tomorrow is
checked the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from leadsift.access.schemas import Role
from leadsift.agents import service as agents
from leadsift.db import Database
from tests.agents_helpers import prospects
from tests.api.test_route_policies import ServedRoute, check_routes

_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
# A valid form for the pages that change a contact (a refusal must not depend on a bad form).
FORMS = {("POST", "/calls/{contact_id}/outcome"): {"outcome": "no_answer"}}


def _pages(client: TestClient) -> list[ServedRoute]:
    assert isinstance(client.app, FastAPI)
    check = check_routes(client.app)
    assert check.problems == []
    return [served for served in check.served if served.policy.page]


def _url(served: ServedRoute, contact_id: int = 1) -> str:
    return _PARAMETER.sub(
        lambda m: str(contact_id) if m.group(1) == "contact_id" else "x", served.path
    )


def _ask(client: TestClient, served: ServedRoute, url: str, csrf: str | None) -> object:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    form = FORMS.get((served.method, served.path))
    return client.request(served.method, url, headers=headers, data=form)


def test_the_app_has_pages_and_every_page_sends_strangers_to_sign_in(pages: TestClient) -> None:
    routes = _pages(pages)
    paths = {s.path for s in routes}
    assert {"/dashboard", "/contacts", "/contacts/{contact_id}", "/calls", "/import"} <= paths
    assert {"/playbook", "/campaigns", "/reports"} <= paths
    for served in routes:
        answer = pages.request(served.method, _url(served))
        where = f"{served.method} {served.path}"
        assert answer.status_code == 303, f"{where}: {answer.status_code}"
        assert answer.headers["location"].startswith("/sign-in?next=/"), where


def test_every_change_needs_the_csrf_token(pages: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(pages, "root", Role.ADMIN)
    changes = [s for s in _pages(pages) if s.method not in {"GET", "HEAD"}]
    assert len(changes) >= 8
    for served in changes:
        answer = pages.request(served.method, _url(served))
        where = f"{served.method} {served.path}"
        assert answer.status_code == 403, f"{where}: {answer.status_code}"
        forged = _ask(pages, served, _url(served), "not-the-token")
        assert forged.status_code == 403, where  # type: ignore[attr-defined]


def test_pages_refuse_roles_they_do_not_name(
    pages: TestClient, sign_in: Callable[..., str]
) -> None:
    csrf = sign_in(pages, "ines", Role.AGENT)
    limited = [s for s in _pages(pages) if Role.AGENT not in s.policy.roles]
    assert {s.path for s in limited} >= {"/import", "/playbook", "/reports", "/campaigns"}
    for served in limited:
        answer = _ask(pages, served, _url(served), csrf)
        where = f"{served.method} {served.path}"
        assert answer.status_code == 403, f"{where}: {answer.status_code}"  # type: ignore[attr-defined]


def test_an_agent_gets_404_for_another_agents_contact_on_every_page(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    csrf = sign_in(pages, "ines", Role.AGENT)
    with committed_db.unit_of_work() as session:
        from leadsift.access import service as access

        access.add_user(session, "yann", Role.AGENT)
        mine, theirs = prospects(session, 2)
        for contact, owner in ((mine, "ines"), (theirs, "yann")):
            agents.assign_contact(session, str(contact), to_user=owner, to_team=None, caller=None)
    routes = [s for s in _pages(pages) if "{contact_id}" in s.path]
    assert routes, "no page takes a contact id"
    missing = 2**62
    for served in routes:
        where = f"{served.method} {served.path}"
        others = _ask(pages, served, _url(served, theirs), csrf)
        absent = _ask(pages, served, _url(served, missing), csrf)
        assert others.status_code == 404, f"{where}: {others.status_code}"  # type: ignore[attr-defined]
        assert absent.status_code == 404, where  # type: ignore[attr-defined]
    own = pages.get(f"/contacts/{mine}")
    assert own.status_code == 200
