"""Campaigns over the API: created (a bad template, target or program refused with the service's
message, nothing stored), shown, previewed for a contact, scheduled, sent by the worker to the
file channel and counted, their messages listed; sequences, pause and resume, pages and
filters; who may do what (agents and read keys may not change anything, a manager previews and
lists only contacts of theirs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import service as access
from leadsift.access.schemas import Role, Scope
from leadsift.agents.service import assign_contact
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.outreach.models import Campaign, CampaignChange
from tests.api.test_route_policies import bearer
from tests.outreach_helpers import import_campaign_people, run_worker

TARGET = 'email contains "@exemple.fr"'
TEMPLATE: dict[str, Any] = {
    "channel": "email",
    "default_language": "fr",
    "fr": {
        "subject": "{{ contact.first_name }}, votre offre",
        "text": "Bonjour {{ contact.first_name }},\nVotre offre : {{ link }}\n"
        "Se désinscrire : {{ unsubscribe_url }}",
    },
    "en": {
        "subject": "{{ contact.first_name }}, your offer",
        "text": "Hello {{ contact.first_name }},\nYour offer: {{ link }}\n"
        "Unsubscribe: {{ unsubscribe_url }}",
    },
}
SMS: dict[str, Any] = {"channel": "sms", "fr": {"text": "Bonjour {{ contact.first_name }}"}}


def campaign(key: str = "spring", **fields: Any) -> dict[str, Any]:
    """The body of a campaign to the three people, with a tracked link."""
    return {
        "key": key,
        "template": TEMPLATE,
        "target": TARGET,
        "link_url": "https://shop.example/offre",
        **fields,
    }


@pytest.fixture
def people(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path) -> dict[str, int]:
    """Ana (French) and Bob (English) agreed to emails; Cyd refused. Their contact ids."""
    return import_campaign_people(capsys, db_url, tmp_path)


@pytest.fixture
def user_key(app_client: TestClient, committed_db: Database) -> Callable[..., tuple[str, int]]:
    """A key of SCOPE acting for a new user of ROLE: (the key, the user's id)."""

    def make(name: str, role: Role, scope: Scope = Scope.ADMIN) -> tuple[str, int]:
        with committed_db.unit_of_work() as session:
            user = access.add_user(session, name, role)
            return access.create_key(session, f"{name} key", scope, user=name).key, user.id

    return make


def _error(answer: Any) -> str:
    message: str = answer.json()["error"]["message"]
    return message


def test_create_show_preview_schedule_send_and_count(
    app_client: TestClient,
    user_key: Callable[..., tuple[str, int]],
    committed_db: Database,
    people: dict[str, int],
    tmp_path: Path,
) -> None:
    token, alice = user_key("alice", Role.ADMIN)
    headers = bearer(token)
    created = app_client.post("/api/v1/campaigns", json=campaign(), headers=headers)
    assert created.status_code == 201, created.text
    view = created.json()
    assert (view["key"], view["status"], view["channel"], view["audience"]) == (
        "spring", "draft", "email", "b2c",
    )  # fmt: skip
    assert (view["target"], view["steps"], view["outbox"]) == (TARGET, 1, {})
    assert view["history"][0]["to"] == "draft" and view["history"][0]["from"] is None

    shown = app_client.get("/api/v1/campaigns/spring", headers=headers)
    assert shown.status_code == 200
    assert shown.json()["link_url"] == "https://shop.example/offre"
    assert app_client.get("/api/v1/campaigns/nope", headers=headers).status_code == 404

    ana = app_client.post("/api/v1/campaigns/spring/preview", json={"contact": "ana@exemple.fr"},
                          headers=headers)  # fmt: skip
    assert ana.status_code == 200, ana.text
    preview = ana.json()
    assert preview["contact_id"] == people["ana"]
    assert preview["decision"]["allowed"] is True
    assert preview["subject"] == "Ana, votre offre"
    assert preview["text"].startswith("Bonjour Ana,")
    assert (preview["recipients"], preview["skipped"]) == (2, {"withdrawn": 1})
    bob = app_client.post("/api/v1/campaigns/spring/preview",
                          json={"contact": str(people["bob"])}, headers=headers)  # fmt: skip
    assert bob.json()["text"].startswith("Hello Bob,")
    cyd = app_client.post("/api/v1/campaigns/spring/preview", json={"contact": "cyd@exemple.fr"},
                          headers=headers)  # fmt: skip
    assert cyd.json()["decision"]["allowed"] is False
    assert cyd.json()["decision"]["reason"] == "withdrawn"
    nobody = app_client.post("/api/v1/campaigns/spring/preview",
                             json={"contact": "zed@exemple.fr"}, headers=headers)  # fmt: skip
    assert nobody.status_code == 404
    assert "no contact matches 'zed@exemple.fr'" in _error(nobody)

    scheduled = app_client.post("/api/v1/campaigns/spring/schedule", json={}, headers=headers)
    assert scheduled.status_code == 200, scheduled.text
    view = scheduled.json()
    assert view["status"] == "scheduled"
    assert (view["prepared"]["recipients"], view["prepared"]["skipped"]) == (2, {"withdrawn": 1})
    assert view["outbox"] == {"0": {"pending": 2}}
    with committed_db.unit_of_work(read_only=True) as session:
        actors = set(session.scalars(select(CampaignChange.actor)))
    assert actors == {f"user:{alice}"}  # created, then scheduled, by the key's user

    outbox = tmp_path / "outbox"
    sent = run_worker(Settings(database_url=committed_db.url, email_transport="file",
                               outbox_dir=str(outbox)))  # fmt: skip
    assert sent == {"sent": 2}
    assert len(list((outbox / "email").glob("*.eml"))) == 2
    view = app_client.get("/api/v1/campaigns/spring", headers=headers).json()
    assert view["outbox"] == {"0": {"sent": 2}}
    listed = app_client.get("/api/v1/campaigns", headers=headers).json()
    assert listed["next"] is None
    assert [(c["key"], c["status"], c["outbox"]) for c in listed["items"]] == [
        ("spring", "scheduled", {"0": {"sent": 2}})
    ]

    messages = app_client.get("/api/v1/campaigns/spring/messages", headers=headers).json()
    assert messages["next"] is None
    assert [(m["contact_id"], m["status"], m["step"]) for m in messages["items"]] == [
        (people["ana"], "sent", 0), (people["bob"], "sent", 0),
    ]  # fmt: skip
    assert all(m["message_id"] and m["settled_at"] for m in messages["items"])
    assert "text" not in messages["items"][0]  # ids and statuses, never what was sent


def test_a_bad_campaign_is_refused_with_the_services_message_and_nothing_stored(
    app_client: TestClient,
    api_key: Callable[..., str],
    committed_db: Database,
    people: dict[str, int],
) -> None:
    headers = bearer(api_key("admin"))

    def create(**fields: Any) -> Any:
        return app_client.post("/api/v1/campaigns", json=campaign(**fields), headers=headers)

    typo = {**TEMPLATE, "fr": {**TEMPLATE["fr"], "text": "Bonjour {{ contact.frist_name }}"}}
    refused = create(template=typo)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_input"
    assert _error(refused) == (
        "template, fr.text: contact has no field 'frist_name'; did you mean 'first_name'?"
    )
    no_link_out = {**TEMPLATE, "en": {"subject": "Hi", "text": "Hello {{ contact.first_name }}"}}
    assert "a marketing email needs a visible unsubscribe link" in _error(
        create(template=no_link_out)
    )
    broken = {**TEMPLATE, "fr": {"subject": "Re", "text": "{{ nope }}"}}
    later = {"delay_seconds": 86_400, "template": broken}
    step = create(steps=[later])
    assert step.status_code == 422
    assert _error(step).startswith("steps[0].template, fr.text: undefined variable 'nope'")
    other_channel = create(steps=[{"delay_seconds": 60, "template": SMS}])
    assert _error(other_channel) == "every step of a sequence must use the same channel"
    bad_target = create(target='cty = "Lyon"')
    assert bad_target.status_code == 422
    assert "unknown field 'cty' — did you mean 'city'?" in _error(bad_target)
    both = create(stage="lead")
    assert _error(both) == "give the campaign a target: --target EXPRESSION or --stage STAGE"
    no_program = create(promo="nope")
    assert no_program.status_code == 404
    assert "no promo program 'nope'" in _error(no_program)
    bad_key = create(key="no spaces")
    assert bad_key.status_code == 422 and "campaign key 'no spaces'" in _error(bad_key)
    # Refused by the schema before the service: a control group over half, an unknown field.
    assert create(control_percent=60).status_code == 422
    assert create(audience="b2x").status_code == 422
    assert create(colour="red").status_code == 422
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Campaign)).all() == []

    assert create().status_code == 201
    taken = create()
    assert taken.status_code == 409
    assert "campaign 'spring' already exists" in _error(taken)


def test_a_sequence_scheduled_later_then_paused_and_resumed(
    app_client: TestClient,
    api_key: Callable[..., str],
    committed_db: Database,
    people: dict[str, int],
) -> None:
    headers = bearer(api_key("admin"))
    follow_up = {**TEMPLATE, "fr": {**TEMPLATE["fr"], "subject": "Rappel"}}
    body = campaign(stage=None, target=TARGET, throttle_per_hour=500, control_percent=10,
                    steps=[{"delay_seconds": 3 * 86_400, "template": follow_up}])  # fmt: skip
    created = app_client.post("/api/v1/campaigns", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert (created.json()["steps"], created.json()["throttle_per_hour"]) == (2, 500)
    url = "/api/v1/campaigns/spring"
    far = app_client.post(f"{url}/schedule", json={"at": "9999-06-01T09:00:00+02:00"},
                          headers=headers)  # fmt: skip
    assert far.status_code == 422
    assert "out of range" in _error(far)
    naive = app_client.post(f"{url}/schedule", json={"at": "2030-06-01T09:00:00"}, headers=headers)
    assert naive.status_code == 422
    done = app_client.post(f"{url}/schedule", json={"at": "2030-06-01T09:00:00+02:00"},
                           headers=headers)  # fmt: skip
    assert done.status_code == 200, done.text
    start = datetime(2030, 6, 1, 7, 0, tzinfo=UTC)
    assert datetime.fromisoformat(done.json()["scheduled_at"]) == start
    with committed_db.unit_of_work(read_only=True) as session:
        stored = session.scalars(select(Campaign)).one()
        assert stored.scheduled_at == start
        assert (stored.throttle_per_hour, stored.control_percent) == (500, 10.0)
    again = app_client.post(f"{url}/schedule", headers=headers)
    assert again.status_code == 409
    assert "only a draft can be scheduled" in _error(again)

    paused = app_client.post(f"{url}/pause", headers=headers)
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert set(paused.json()["outbox"]["0"]) <= {"held", "control"}
    assert app_client.post(f"{url}/pause", headers=headers).status_code == 409
    resumed = app_client.post(f"{url}/resume", headers=headers)
    assert resumed.json()["status"] == "scheduled"
    assert "held" not in resumed.json()["outbox"]["0"]
    assert app_client.post(f"{url}/resume", headers=headers).status_code == 409

    first = app_client.get(f"{url}/messages", params={"limit": 1}, headers=headers).json()
    rest = app_client.get(f"{url}/messages", params={"after": first["next"]},
                          headers=headers).json()  # fmt: skip
    both = first["items"] + rest["items"]
    assert [m["contact_id"] for m in both] == [people["ana"], people["bob"]]
    assert first["next"] is not None and rest["next"] is None
    statuses = {m["status"] for m in both}
    assert statuses <= {"pending", "control"} and "pending" in statuses
    pending = app_client.get(f"{url}/messages", params={"status": "pending"}, headers=headers)
    assert {m["status"] for m in pending.json()["items"]} == {"pending"}
    for refused in ({"status": "lost"}, {"after": "0"}, {"limit": 501}, {"colour": "red"}):
        assert app_client.get(f"{url}/messages", params=refused, headers=headers).status_code == (
            422
        ), refused
    assert app_client.get("/api/v1/campaigns/nope/messages", headers=headers).status_code == 404
    assert app_client.post("/api/v1/campaigns/nope/pause", headers=headers).status_code == 404


def test_pages_of_campaigns_and_filters(
    app_client: TestClient, api_key: Callable[..., str], people: dict[str, int]
) -> None:
    admin, reader = bearer(api_key("admin")), bearer(api_key("read"))
    texting = campaign("four", template=SMS, link_url=None)
    for body in (campaign("one"), campaign("two"), campaign("three"), texting):
        assert app_client.post("/api/v1/campaigns", json=body, headers=admin).status_code == 201
    assert app_client.post("/api/v1/campaigns/two/schedule", headers=admin).status_code == 200

    first = app_client.get("/api/v1/campaigns", params={"limit": 2}, headers=reader).json()
    assert [c["key"] for c in first["items"]] == ["four", "three"]  # newest first
    second = app_client.get("/api/v1/campaigns", params={"limit": 2, "after": first["next"]},
                            headers=reader).json()  # fmt: skip
    assert [c["key"] for c in second["items"]] == ["two", "one"]
    assert second["next"] is None

    def keys(**params: Any) -> list[str]:
        answer = app_client.get("/api/v1/campaigns", params=params, headers=reader)
        assert answer.status_code == 200, answer.text
        return [c["key"] for c in answer.json()["items"]]

    assert keys(status="scheduled") == ["two"]
    assert keys(status="draft", channel="email") == ["three", "one"]
    assert keys(channel="sms") == ["four"]
    for refused in ({"limit": 0}, {"limit": 501}, {"after": "x"}, {"status": "gone"}):
        answer = app_client.get("/api/v1/campaigns", params=refused, headers=reader)
        assert answer.status_code == 422, refused


def test_agents_and_read_keys_may_not_and_managers_preview_only_their_contacts(
    app_client: TestClient,
    user_key: Callable[..., tuple[str, int]],
    api_key: Callable[..., str],
    committed_db: Database,
    people: dict[str, int],
) -> None:
    admin = bearer(api_key("admin"))
    assert app_client.post("/api/v1/campaigns", json=campaign(), headers=admin).status_code == 201
    agent = bearer(user_key("carl", Role.AGENT)[0])
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/v1/campaigns", None),
        ("POST", "/api/v1/campaigns", campaign("mine")),
        ("GET", "/api/v1/campaigns/spring", None),
        ("POST", "/api/v1/campaigns/spring/preview", {"contact": "ana@exemple.fr"}),
        ("POST", "/api/v1/campaigns/spring/schedule", {}),
        ("POST", "/api/v1/campaigns/spring/pause", None),
        ("POST", "/api/v1/campaigns/spring/resume", None),
        ("GET", "/api/v1/campaigns/spring/messages", None),
    ]
    for method, url, body in calls:
        answer = app_client.request(method, url, json=body, headers=agent)
        assert answer.status_code == 403, f"{method} {url}: {answer.text}"
        assert "needs the role admin, manager" in _error(answer)

    reader = bearer(api_key("read"))
    for method, url, body in calls:
        answer = app_client.request(method, url, json=body, headers=reader)
        changes = method == "POST" and not url.endswith("/preview")
        assert answer.status_code == (403 if changes else 200), f"{method} {url}: {answer.text}"
    ingest = bearer(api_key("ingest"))
    assert app_client.get("/api/v1/campaigns", headers=ingest).status_code == 403

    # Nobody of the manager's teams owns Ana: her contact answers as one that does not exist.
    manager = bearer(user_key("mona", Role.MANAGER)[0])
    hidden = app_client.post("/api/v1/campaigns/spring/preview",
                             json={"contact": "ana@exemple.fr"}, headers=manager)  # fmt: skip
    assert hidden.status_code == 404
    assert "Bonjour Ana" not in hidden.text
    assert _error(hidden) == (
        "no contact matches 'ana@exemple.fr' among those you may see "
        "(give an id, email, phone or external id)"
    )
    nobody = app_client.post("/api/v1/campaigns/spring/preview",
                             json={"contact": "zed@exemple.fr"}, headers=manager)  # fmt: skip
    assert (nobody.status_code, _error(nobody).replace("zed", "ana")) == (404, _error(hidden))
    with committed_db.unit_of_work() as session:
        assign_contact(session, str(people["ana"]), to_user="mona", to_team=None, caller=None)
    mine = app_client.post("/api/v1/campaigns/spring/preview",
                           json={"contact": "ana@exemple.fr"}, headers=manager)  # fmt: skip
    assert mine.status_code == 200 and mine.json()["text"].startswith("Bonjour Ana,")
    # Messages too: the manager lists those to Ana, not Bob's (an admin key sees both).
    assert app_client.post("/api/v1/campaigns/spring/schedule", headers=admin).status_code == 200
    listed = app_client.get("/api/v1/campaigns/spring/messages", headers=manager).json()
    assert [m["contact_id"] for m in listed["items"]] == [people["ana"]]
    everyone = app_client.get("/api/v1/campaigns/spring/messages", headers=admin).json()
    assert [m["contact_id"] for m in everyone["items"]] == [people["ana"], people["bob"]]
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Campaign.key)).all() == ["spring"]
