"""Promo programs and codes over the API: programs created as `promo program create` does (its
refusals with the service's message, nothing stored), listed a page at a time, used by a
campaign whose preview shows the code's place; personal codes issued per contact (207: an
unknown or hidden contact gets 404, the others their code), listed by program, campaign and
redemption; who may do what."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import service as access
from leadsift.access.schemas import Role, Scope
from leadsift.agents.service import assign_contact
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.outreach.models import PromoCode, PromoProgram
from tests.api.test_campaigns_api import TEMPLATE, campaign, people
from tests.api.test_route_policies import bearer
from tests.outreach_helpers import run_worker

__all__ = ["people"]  # the fixture, used here as in the campaigns' tests
WELCOME: dict[str, Any] = {
    "key": "welcome",
    "discount": "20%",
    "valid_until": "2099-12-31T23:59:00+01:00",
    "max_redemptions": 10,
    "prefix": "WELC",
}


def _error(answer: Any) -> str:
    message: str = answer.json()["error"]["message"]
    return message


def test_create_and_list_programs(
    app_client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    admin, reader = bearer(api_key("admin")), bearer(api_key("read"))
    assert app_client.get("/api/v1/promo-programs", headers=reader).json() == {
        "items": [],
        "next": None,
    }
    made = app_client.post("/api/v1/promo-programs", json=WELCOME, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json() == {
        "key": "welcome",
        "discount": "20%",
        "valid_from": None,
        "valid_until": "2099-12-31T23:59:00+01:00",
        "max_redemptions": 10,
        "one_per_customer": True,
        "redemptions": 0,
    }

    def create(**fields: Any) -> Any:
        return app_client.post("/api/v1/promo-programs", json={**WELCOME, **fields}, headers=admin)

    taken = create()
    assert taken.status_code == 409
    assert _error(taken) == "promo program 'welcome' already exists: choose another key"
    blank = create(key="blank", discount="   ")
    assert blank.status_code == 422
    assert "say what the code gives" in _error(blank)
    backwards = create(key="backwards", valid_from="2030-01-02T00:00:00Z",
                       valid_until="2030-01-01T00:00:00Z")  # fmt: skip
    assert backwards.status_code == 422
    assert _error(backwards) == "--until must be later than --from"
    prefix = create(key="lower", prefix="abc")
    assert prefix.status_code == 422
    assert "promo code prefix 'abc'" in _error(prefix)
    # Refused by the schema: a key no URL can carry, a year nobody means, no limit at all.
    for fields in ({"key": "a/b"}, {"key": "x", "valid_until": "0001-01-01T00:00:00+14:00"},
                   {"key": "y", "max_redemptions": 0}, {"key": "z", "colour": "red"}):  # fmt: skip
        assert create(**fields).status_code == 422, fields
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(PromoProgram.key)).all() == ["welcome"]

    for key in ("spring", "summer"):
        assert create(key=key, one_per_customer=False).status_code == 201
    first = app_client.get("/api/v1/promo-programs", params={"limit": 2}, headers=reader).json()
    assert [p["key"] for p in first["items"]] == ["welcome", "spring"]  # oldest first
    rest = app_client.get("/api/v1/promo-programs", params={"after": first["next"]},
                          headers=reader).json()  # fmt: skip
    assert (rest["items"][0]["key"], rest["items"][0]["one_per_customer"]) == ("summer", False)
    assert rest["next"] is None


def test_a_campaign_with_a_program_previews_its_code_and_its_messages_carry_codes(
    app_client: TestClient,
    api_key: Callable[..., str],
    committed_db: Database,
    people: dict[str, int],
    tmp_path: Path,
) -> None:
    admin = bearer(api_key("admin"))
    assert app_client.post("/api/v1/promo-programs", json=WELCOME, headers=admin).status_code == 201
    text = "Bonjour {{ contact.first_name }}\nCode : {{ promo_code }}\n{{ unsubscribe_url }}"
    template = {**TEMPLATE, "fr": {"subject": "-20 %", "text": text}}
    del template["en"]
    body = campaign("codes", template=template, link_url=None, promo="welcome")
    created = app_client.post("/api/v1/campaigns", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["promo"] == "welcome"
    preview = app_client.post("/api/v1/campaigns/codes/preview", json={"contact": "bob@exemple.fr"},
                              headers=admin)  # fmt: skip
    assert preview.json()["text"].startswith("Bonjour Bob\nCode : PREVIEW-CODE\nhttp")
    # A code without a program is refused when the campaign is created.
    without = app_client.post("/api/v1/campaigns", json={**body, "key": "nocode", "promo": None},
                              headers=admin)  # fmt: skip
    assert without.status_code == 422
    assert "promo_code" in _error(without)

    # Sent: each message carried a code of its own, listed with its campaign.
    assert app_client.post("/api/v1/campaigns/codes/schedule", headers=admin).status_code == 200
    settings = Settings(database_url=committed_db.url, email_transport="file",
                        outbox_dir=str(tmp_path / "outbox"))  # fmt: skip
    assert run_worker(settings) == {"sent": 2}
    sent = app_client.get("/api/v1/promo-codes", params={"campaign": "codes"}, headers=admin)
    assert sent.status_code == 200, sent.text
    assert sorted((c["contact_id"], c["program"]) for c in sent.json()["items"]) == [
        (people["ana"], "welcome"), (people["bob"], "welcome"),
    ]  # fmt: skip
    assert all(c["code"].startswith("WELC") for c in sent.json()["items"])


def test_agents_and_read_keys_may_not_create_programs(
    app_client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    with committed_db.unit_of_work() as session:
        access.add_user(session, "carl", Role.AGENT)
        agent = bearer(access.create_key(session, "carl", Scope.ADMIN, user="carl").key)
    for method, body in (("GET", None), ("POST", WELCOME)):
        answer = app_client.request(method, "/api/v1/promo-programs", json=body, headers=agent)
        assert answer.status_code == 403
        assert "needs the role admin, manager" in _error(answer)
    reader = bearer(api_key("read"))
    refused = app_client.post("/api/v1/promo-programs", json=WELCOME, headers=reader)
    assert refused.status_code == 403
    assert "needs admin" in _error(refused)
    assert app_client.get("/api/v1/promo-programs", headers=reader).status_code == 200
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(PromoProgram)).all() == []


def test_codes_issued_per_contact_with_a_207_then_listed_and_redeemed(
    app_client: TestClient,
    api_key: Callable[..., str],
    committed_db: Database,
    people: dict[str, int],
) -> None:
    admin, reader = bearer(api_key("admin")), bearer(api_key("read"))
    assert app_client.post("/api/v1/promo-programs", json=WELCOME, headers=admin).status_code == 201
    missing = max(people.values()) + 1000
    asked = [people["ana"], missing, people["bob"], people["ana"]]
    issued = app_client.post("/api/v1/promo-programs/welcome/codes", json={"contacts": asked},
                             headers=admin)  # fmt: skip
    assert issued.status_code == 207, issued.text
    result = issued.json()
    assert result["program"] == "welcome"
    items = result["items"]
    assert [(i["contact_id"], i["status"]) for i in items] == [
        (people["ana"], 201), (missing, 404), (people["bob"], 201), (people["ana"], 201),
    ]  # fmt: skip
    assert items[1]["code"] is None
    assert items[1]["error"] == {"code": "not_found", "message": f"no contact {missing}",
                                 "details": None}  # fmt: skip
    ana_code, bob_code = items[0]["code"], items[2]["code"]
    assert ana_code.startswith("WELC") and ana_code != bob_code
    assert items[3]["code"] == ana_code  # once per contact, however often given
    with committed_db.unit_of_work(read_only=True) as session:
        stored = session.scalars(select(PromoCode.contact_id).order_by(PromoCode.id)).all()
    assert stored == [people["ana"], people["bob"]]

    # Unredeemed codes are worth money: a read-only key lists none.
    refused = app_client.get("/api/v1/promo-codes", params={"program": "welcome"}, headers=reader)
    assert refused.status_code == 403
    listed = app_client.get("/api/v1/promo-codes", params={"program": "welcome"}, headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(c["code"], c["contact_id"], c["campaign"]) for c in listed.json()["items"]] == [
        (ana_code, people["ana"], None), (bob_code, people["bob"], None),
    ]  # fmt: skip
    sale = app_client.post("/api/v1/promo/redeem", json={"code": ana_code, "amount": 42.5},
                           headers=admin)  # fmt: skip
    assert sale.status_code == 200, sale.text

    def codes(**params: Any) -> list[str]:
        answer = app_client.get("/api/v1/promo-codes", params=params, headers=admin)
        assert answer.status_code == 200, answer.text
        return [c["code"] for c in answer.json()["items"]]

    assert codes(redeemed="true") == [ana_code]
    assert codes(redeemed="false", program="welcome") == [bob_code]
    page = app_client.get("/api/v1/promo-codes", params={"limit": 1}, headers=admin).json()
    assert [c["code"] for c in page["items"]] == [ana_code]
    assert codes(after=page["next"]) == [bob_code]
    redeemed = app_client.get("/api/v1/promo-codes", params={"redeemed": "true"},
                              headers=admin).json()["items"][0]  # fmt: skip
    assert (redeemed["redeemed_amount"], redeemed["redeemed_at"] is not None) == (42.5, True)
    assert app_client.get("/api/v1/promo-codes", params={"program": "nope"},
                          headers=admin).status_code == 404  # fmt: skip
    assert app_client.get("/api/v1/promo-codes", params={"campaign": "nope"},
                          headers=admin).status_code == 404  # fmt: skip


def test_issuing_codes_is_refused_as_a_whole_when_the_program_cannot_give_them(
    app_client: TestClient,
    api_key: Callable[..., str],
    committed_db: Database,
    people: dict[str, int],
) -> None:
    admin = bearer(api_key("admin"))
    ended = {**WELCOME, "key": "ended", "valid_from": "2020-01-01T00:00:00Z",
             "valid_until": "2020-01-31T00:00:00Z"}  # fmt: skip
    assert app_client.post("/api/v1/promo-programs", json=ended, headers=admin).status_code == 201
    body = {"contacts": [people["ana"]]}
    refused = app_client.post("/api/v1/promo-programs/ended/codes", json=body, headers=admin)
    assert refused.status_code == 409
    assert "promo program 'ended' ended on 2020-01-31" in _error(refused)
    unknown = app_client.post("/api/v1/promo-programs/nope/codes", json=body, headers=admin)
    assert unknown.status_code == 404
    wrongs: list[dict[str, Any]] = [
        {"contacts": []}, {"contacts": [0]}, {"contacts": ["1"]}, {"contacts": [True]},
        {"contacts": list(range(1, 1002))}, {"contacts": [1], "more": 1},
    ]  # fmt: skip
    for wrong in wrongs:
        answer = app_client.post("/api/v1/promo-programs/ended/codes", json=wrong, headers=admin)
        assert answer.status_code == 422, wrong
    reader = bearer(api_key("read"))
    denied = app_client.post("/api/v1/promo-programs/ended/codes", json=body, headers=reader)
    assert denied.status_code == 403
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(PromoCode)).all() == []


def test_a_manager_issues_and_lists_codes_only_for_contacts_of_theirs(
    app_client: TestClient, api_key: Callable[..., str], committed_db: Database,
    people: dict[str, int],
) -> None:  # fmt: skip
    admin = bearer(api_key("admin"))
    assert app_client.post("/api/v1/promo-programs", json=WELCOME, headers=admin).status_code == 201
    with committed_db.unit_of_work() as session:
        access.add_user(session, "mona", Role.MANAGER)
        manager = bearer(access.create_key(session, "mona", Scope.ADMIN, user="mona").key)
        assign_contact(session, str(people["ana"]), to_user="mona", to_team=None, caller=None)
    body = {"contacts": [people["ana"], people["bob"]]}
    issued = app_client.post("/api/v1/promo-programs/welcome/codes", json=body, headers=manager)
    assert issued.status_code == 207
    items = issued.json()["items"]
    # Bob is nobody's of hers: answered as a contact that does not exist.
    assert [(i["contact_id"], i["status"]) for i in items] == [
        (people["ana"], 201), (people["bob"], 404),
    ]  # fmt: skip
    assert items[1]["error"]["message"] == f"no contact {people['bob']}"
    app_client.post("/api/v1/promo-programs/welcome/codes", json={"contacts": [people["bob"]]},
                    headers=admin)  # fmt: skip
    mine = app_client.get("/api/v1/promo-codes", headers=manager).json()["items"]
    assert [c["contact_id"] for c in mine] == [people["ana"]]
    everyone = app_client.get("/api/v1/promo-codes", headers=admin).json()["items"]
    assert [c["contact_id"] for c in everyone] == [people["ana"], people["bob"]]
