"""Who sees which contact through the API (both engines): agents their own and their teams'
queues, managers their teams', admins and integrations everything; a contact someone may not
see answers exactly as one that does not exist, on every contact route the app has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from leadsift.access import service as access
from leadsift.access.models import AuditEntry, ContactOwner
from leadsift.access.schemas import Role, Scope
from leadsift.agents.models import Touch
from leadsift.agents.service import assign_contact
from leadsift.contacts.models import Contact
from leadsift.db import Database
from tests.api.test_route_policies import ServedRoute, bearer, check_routes

TEAMS = {"north": ["max", "ann", "amy"], "south": ["mia", "bob"]}
ROLES = {"ada": Role.ADMIN, "max": Role.MANAGER, "mia": Role.MANAGER}
# Contacts by who works them: a user, or the north team's queue; "free" has no owner.
OWNERS = {"ann": "ann", "amy": "amy", "bob": "bob", "north": "team:north", "free": None}
# Bodies that pass validation, so the answer says whether the contact was found.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/contacts/{contact_id}/calls"): {"outcome": "no_answer"},
    ("PUT", "/api/v1/contacts/{contact_id}/owner"): {"user": "bob"},
    ("POST", "/api/v1/contacts/{contact_id}/consent"): {"action": "grant", "channel": "email"},
}


@dataclass(frozen=True)
class World:
    """Users, teams and contacts with their owners, in the database the app serves."""

    database: Database
    contacts: dict[str, int]
    users: dict[str, int]

    @property
    def missing(self) -> int:
        """An id no contact has."""
        return max(self.contacts.values()) + 1000

    def key(self, user: str | None, scope: Scope = Scope.READ) -> str:
        """A new key of SCOPE acting for USER (None: an integration key)."""
        with self.database.unit_of_work() as session:
            return access.create_key(
                session, f"{user or 'integration'} {scope.value}", scope, user=user
            ).key


def _add_people(database: Database) -> dict[str, int]:
    with database.unit_of_work() as session:
        for team in TEAMS:
            access.add_team(session, team)
        for team, members in TEAMS.items():
            for name in members:
                access.add_user(session, name, ROLES.get(name, Role.AGENT), teams=[team])
        access.add_user(session, "ada", Role.ADMIN)
        return {user.name: user.id for user in access.list_users(session)}


def _add_contacts(database: Database) -> dict[str, int]:
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        rows = {
            name: Contact(
                email=f"{name}-prospect@example.com",
                phone=f"+336100000{index:02d}",
                first_name=name.title(),
                stage="qualified",
                stage_changed_at=now,
                attrs={},
                created_at=now,
                updated_at=now,
            )
            for index, name in enumerate(OWNERS)
        }
        session.add_all(rows.values())
        session.flush()
        for name, owner in OWNERS.items():
            if owner is not None:
                team = owner.removeprefix("team:") if owner.startswith("team:") else None
                user = None if team else owner
                assign_contact(session, str(rows[name].id), to_user=user, to_team=team, caller=None)
        return {name: row.id for name, row in rows.items()}


@pytest.fixture
def world(app_client: TestClient, committed_db: Database) -> World:
    """The people and contacts, once the app (started first, so migrated) serves them."""
    assert app_client.app is not None
    users = _add_people(committed_db)
    return World(committed_db, _add_contacts(committed_db), users)


def _get(client: TestClient, token: str, contact_id: int) -> int:
    answer = client.get(f"/api/v1/contacts/{contact_id}", headers=bearer(token))
    return int(answer.status_code)


def _contact_routes(client: TestClient) -> list[ServedRoute]:
    assert isinstance(client.app, FastAPI)
    check = check_routes(client.app)
    # Pages (signed-in browsers) have their own test: tests/pages/test_page_policies.py.
    return [
        s
        for s in check.served
        if "{contact_id}" in s.path and not s.policy.public and not s.policy.page
    ]


def _ask(client: TestClient, served: ServedRoute, token: str, contact_id: int) -> Any:
    url = served.path.replace("{contact_id}", str(contact_id))
    body = BODIES.get((served.method, served.path), {}) if served.method != "GET" else None
    return client.request(served.method, url, headers=bearer(token), json=body)


def _refusal(answer: Any, contact_id: int) -> tuple[int, Any]:
    """The answer with the contact's id (its first mention) taken out of the message."""
    document = answer.json()
    error = document.get("error", {})
    if isinstance(error.get("message"), str):
        error["message"] = error["message"].replace(str(contact_id), "<id>", 1)
    return answer.status_code, document


def test_a_contact_one_may_not_see_answers_exactly_as_a_missing_one(
    app_client: TestClient, world: World
) -> None:
    routes = _contact_routes(app_client)
    assert {(s.method, s.path) for s in routes} >= {
        ("GET", "/api/v1/contacts/{contact_id}"),
        ("GET", "/api/v1/contacts/{contact_id}/events"),
        ("POST", "/api/v1/contacts/{contact_id}/calls"),
        ("PUT", "/api/v1/contacts/{contact_id}/owner"),
    }
    # An agent where agents are let in, else a manager (of the south team).
    askers = {Role.AGENT: ("ann", ["amy", "bob", "free"], "ann")}
    askers[Role.MANAGER] = ("mia", ["ann", "amy", "north", "free"], "bob")
    for served in routes:
        assert served.policy.scope is not None
        if not {Role.AGENT, Role.MANAGER} & served.policy.roles:
            continue  # admins only (e.g. erasure): an admin sees every contact
        role = Role.AGENT if Role.AGENT in served.policy.roles else Role.MANAGER
        user, hidden, own = askers[role]
        token = world.key(user, served.policy.scope)
        where = f"{served.method} {served.path} as {user}"
        missing = _refusal(_ask(app_client, served, token, world.missing), world.missing)
        assert missing[0] == 404, f"{where} on a missing contact: {missing}"
        for name in hidden:
            contact_id = world.contacts[name]
            answer = _refusal(_ask(app_client, served, token, contact_id), contact_id)
            assert answer == missing, f"{where} on {name}'s contact"
        mine = _ask(app_client, served, token, world.contacts[own])
        if served.method == "GET":
            assert mine.status_code == 200, f"{where} on {own}'s contact: {mine.text}"
        else:  # found, though the change may be refused (e.g. outside the calling hours)
            assert mine.status_code != 404, f"{where} on {own}'s contact: {mine.text}"
    with world.database.unit_of_work() as session:
        owner = session.get(ContactOwner, world.contacts["ann"])
        assert owner is not None and owner.user_id == world.users["ann"]


def test_the_contact_id_in_the_path_is_an_id_never_a_phone_number(
    app_client: TestClient, world: World
) -> None:
    # Ann's contact has the phone +33 6 10 00 00 00: its national digits are not an id.
    digits = 610000000
    changed = []
    for served in _contact_routes(app_client):
        assert served.policy.scope is not None
        token = world.key("ada", served.policy.scope)
        missing = _refusal(_ask(app_client, served, token, world.missing), world.missing)
        answer = _refusal(_ask(app_client, served, token, digits), digits)
        if answer != missing:
            changed.append(f"{served.method} {served.path}: {answer}")
    assert changed == [], "contact routes reading a phone number as the contact's id"
    with world.database.unit_of_work() as session:
        owner = session.get(ContactOwner, world.contacts["ann"])
        assert owner is not None and owner.user_id == world.users["ann"]


def test_an_id_out_of_the_databases_range_is_a_missing_contact(
    app_client: TestClient, world: World
) -> None:
    # The first integer a BIGINT (and SQLite's INTEGER) cannot hold.
    too_big = 2**63
    client = TestClient(app_client.app, raise_server_exceptions=False)
    failing = []
    for served in _contact_routes(app_client):
        assert served.policy.scope is not None
        answer = _ask(client, served, world.key("ada", served.policy.scope), too_big)
        if answer.status_code not in (404, 422):
            failing.append(f"{served.method} {served.path}: {answer.status_code} {answer.text}")
    assert failing == [], "an id over 2**63 - 1 must be refused as missing or invalid"


def test_a_teams_queue_is_seen_by_its_members_and_managers_only(
    app_client: TestClient, world: World
) -> None:
    queued = world.contacts["north"]
    keys = {name: world.key(name) for name in ("ann", "amy", "bob", "max", "mia", "ada")}
    keys["integration"] = world.key(None)
    seen = {name: _get(app_client, token, queued) for name, token in keys.items()}
    assert seen == {
        "ann": 200,
        "amy": 200,
        "bob": 404,
        "max": 200,
        "mia": 404,
        "ada": 200,
        "integration": 200,
    }


@pytest.mark.parametrize(
    ("user", "visible"),
    [
        ("ann", {"ann", "north"}),
        ("bob", {"bob"}),
        ("max", {"ann", "amy", "north"}),
        ("mia", {"bob"}),
        ("ada", set(OWNERS)),
        (None, set(OWNERS)),
    ],
)
def test_who_sees_which_contact(
    app_client: TestClient, world: World, user: str | None, visible: set[str]
) -> None:
    token = world.key(user)
    answers = {
        name: _get(app_client, token, contact_id) for name, contact_id in world.contacts.items()
    }
    assert {name for name, status in answers.items() if status == 200} == visible
    assert {status for name, status in answers.items() if name not in visible} <= {404}


def test_a_disabled_users_key_is_refused(
    app_client: TestClient, make_client: Callable[..., TestClient], world: World
) -> None:
    token = world.key("bob")
    assert _get(app_client, token, world.contacts["bob"]) == 200
    with world.database.unit_of_work() as session:
        access.disable_user(session, "bob")
    # A new app: the first one trusts a verified key for up to CACHE_SECONDS.
    fresh = make_client()
    answer = fresh.get(f"/api/v1/contacts/{world.contacts['bob']}", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert "disabled" in answer.json()["error"]["message"]


def test_the_call_queue_is_a_persons(app_client: TestClient, world: World) -> None:
    refused = app_client.post("/api/v1/calls/next", headers=bearer(world.key(None)))
    assert refused.status_code == 403
    assert "the call queue is a person's" in refused.json()["error"]["message"]
    mine = app_client.post("/api/v1/calls/next", headers=bearer(world.key("ann")))
    assert mine.status_code == 200, mine.text


def test_an_admin_assigns_a_contact_and_it_is_audited(app_client: TestClient, world: World) -> None:
    admin = world.key("ada", Scope.ADMIN)
    with world.database.unit_of_work() as session:
        last = access.audit_log(session, limit=100_000)[-1].id
    free = world.contacts["free"]
    answer = app_client.put(
        f"/api/v1/contacts/{free}/owner", json={"user": "ann"}, headers=bearer(admin)
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["contact_id"], answer.json()["user"]) == (free, "ann")
    with world.database.unit_of_work() as session:
        entries = access.audit_log(session, after_id=last)
    assert [(e.action, e.target_type, e.target_id, e.actor) for e in entries] == [
        ("assigned", "contact", free, f"user:{world.users['ada']}")
    ]
    assert entries[0].details == {"user_id": world.users["ann"], "team_id": None}
    assert _get(app_client, world.key("ann"), free) == 200


def test_agents_may_not_assign_and_managers_only_what_they_see(
    app_client: TestClient, world: World
) -> None:
    ann_contact = world.contacts["ann"]
    agent = app_client.put(
        f"/api/v1/contacts/{ann_contact}/owner",
        json={"team": "north"},
        headers=bearer(world.key("ann", Scope.ADMIN)),
    )
    assert agent.status_code == 403
    assert "needs the role" in agent.json()["error"]["message"]
    outsider = app_client.put(
        f"/api/v1/contacts/{ann_contact}/owner",
        json={"user": "bob"},
        headers=bearer(world.key("mia", Scope.ADMIN)),
    )
    assert outsider.status_code == 404
    assert outsider.json()["error"] == {"code": "not_found", "message": f"no contact {ann_contact}"}
    manager = app_client.put(
        f"/api/v1/contacts/{ann_contact}/owner",
        json={"user": "amy"},
        headers=bearer(world.key("max", Scope.ADMIN)),
    )
    assert manager.status_code == 200, manager.text
    with world.database.unit_of_work() as session:
        owner = session.get(ContactOwner, ann_contact)
        assert owner is not None and owner.user_id == world.users["amy"]


@pytest.mark.parametrize(("user", "status"), [("ada", 200), ("max", 200), ("ann", 403)])
def test_the_user_list_is_for_admins_and_managers(
    app_client: TestClient, world: World, user: str, status: int
) -> None:
    answer = app_client.get("/api/v1/users", headers=bearer(world.key(user)))
    assert answer.status_code == status, answer.text
    if status == 200:
        listed = {u["name"]: (u["role"], u["teams"]) for u in answer.json()}
        assert listed["max"] == ("manager", ["north"])
        assert listed["bob"] == ("agent", ["south"])


@pytest.mark.parametrize("statement", ["DELETE FROM audit_log", "UPDATE audit_log SET actor = 'x'"])
def test_the_audit_log_cannot_be_changed(world: World, statement: str) -> None:
    engine = world.database.engine
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        actors = set(conn.scalars(select(AuditEntry.actor)))
    assert before >= len(world.users)  # every user added is an entry
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == before
        assert set(conn.scalars(select(AuditEntry.actor))) == actors


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"outcome": "maybe"}, 422, "unknown outcome 'maybe'"),
        ({"outcome": "sale", "amount": -5}, 422, ""),
        ({"outcome": "no_answer", "mood": "grumpy"}, 422, ""),
        ({"outcome": "callback", "callback_at": "tomorrow"}, 422, ""),
        ({}, 422, ""),
    ],
)
def test_a_garbage_call_outcome_is_refused_and_nothing_is_logged(
    app_client: TestClient, world: World, body: dict[str, object], status: int, words: str
) -> None:
    mine = world.contacts["ann"]
    answer = app_client.post(
        f"/api/v1/contacts/{mine}/calls", json=body, headers=bearer(world.key("ann"))
    )
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]
    with world.database.unit_of_work() as session:
        touches = session.scalar(
            select(func.count()).select_from(Touch).where(Touch.contact_id == mine)
        )
    assert touches == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"user": "nobody"}, "no user 'nobody'"),
        ({"user": "ann", "team": "north"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"user": "ann", "extra": 1}, ""),
    ],
)
def test_a_garbage_owner_is_refused_and_nothing_changes(
    app_client: TestClient, world: World, body: dict[str, object], words: str
) -> None:
    free = world.contacts["free"]
    answer = app_client.put(
        f"/api/v1/contacts/{free}/owner", json=body, headers=bearer(world.key("ada", Scope.ADMIN))
    )
    assert 400 <= answer.status_code < 500 and words in answer.json()["error"]["message"]
    with world.database.unit_of_work() as session:
        assert session.get(ContactOwner, free) is None
