"""The agent console in a browser session: the next call, one-click outcomes, the queue and the
figures, under the real calling rules with a frozen clock (a Wednesday at 10:05 in Paris)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadsift.access import service as access
from leadsift.access.schemas import Role
from leadsift.agents import service
from leadsift.agents.call_log import OUTCOMES
from leadsift.agents.models import Touch
from leadsift.agents.views import OUTCOME_KEYS, callback_moment, sale_amount
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.errors import InvalidInputError
from tests.agents_helpers import activate, prospects

PARIS = ZoneInfo("Europe/Paris")
WEDNESDAY_10_05 = datetime(2026, 12, 2, 10, 5, tzinfo=PARIS)
SATURDAY = datetime(2026, 12, 5, 11, 0, tzinfo=PARIS)
PLAYBOOK = """assignment:
  default: {user: alice}
calling:
  audience: b2b
  script:
    fr: "Bonjour {{ first_name }}, ici {{ agent }} de Test."
    en: "Hello {{ first_name }}, {{ agent }} from Test here."
"""
Browser = tuple[TestClient, str]


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the console's clock (the calling rules are real: inside the hours by default)."""

    def at(moment: datetime) -> None:
        monkeypatch.setattr("leadsift.agents.views.utcnow", lambda: moment)

    at(WEDNESDAY_10_05)
    return at


@pytest.fixture
def browsers(
    make_pages: Callable[..., TestClient],
    sign_in: Callable[..., str],
    committed_db: Database,
    frozen: Callable[[datetime], None],
) -> dict[str, Browser]:
    """Alice and Bob (agents of the north team, each in a browser), their manager Max, and
    one qualified prospect, Zoé, assigned to Alice by the playbook."""
    with committed_db.unit_of_work() as session:
        access.add_team(session, "north")
    found: dict[str, Browser] = {}
    for name, role in (("alice", Role.AGENT), ("bob", Role.AGENT), ("max", Role.MANAGER)):
        client = make_pages()
        client.cookies.set("leadsift_lang", "en")
        found[name] = (client, sign_in(client, name, role, teams=["north"]))
    with committed_db.unit_of_work() as session:
        activate(session, PLAYBOOK)
        prospects(session, 1, first_name="Zoé", last_name="Martin", company="Acme")
        service.assign(session, now=WEDNESDAY_10_05)
    return found


def _zoe(database: Database) -> Contact:
    with database.unit_of_work(read_only=True) as session:
        contact = session.scalars(select(Contact).where(Contact.first_name == "Zoé")).one()
        session.expunge(contact)
        return contact


def _touches(database: Database) -> int:
    with database.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(Touch)) or 0)


def _next(browser: Browser, **headers: str) -> str:
    client, csrf = browser
    answer = client.post("/calls/next", data={"csrf_token": csrf}, headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.text)


def _figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert found is not None, name
    return found.group(1)


def test_an_agent_takes_the_next_call_and_logs_a_sale(
    browsers: dict[str, Browser], committed_db: Database
) -> None:
    client, csrf = browsers["alice"]
    zoe = _zoe(committed_db)
    console = client.get("/calls")
    assert console.status_code == 200
    assert 'data-key="n"' in console.text and "<kbd>n</kbd>" in console.text
    assert f'data-contact="{zoe.id}"' in console.text  # the queue shows her
    assert _figure(console.text, "sales-today") == "0"

    call = _next(browsers["alice"])
    assert "Zoé Martin" in call and f'href="tel:{zoe.phone}"' in call
    assert "Hello Zoé, alice from Test here." not in call  # the contact's language: French
    assert "Bonjour Zoé, ici alice de Test." in call
    for outcome, key, label in OUTCOME_KEYS:
        assert f'value="{outcome}"' in call and f'data-key="{key}"' in call, label
    assert f'action="/calls/{zoe.id}/outcome"' in call

    sold = client.post(
        f"/calls/{zoe.id}/outcome",
        data={"csrf_token": csrf, "outcome": "sale", "amount": "1 250,50"},
    )
    assert sold.status_code == 200, sold.text
    assert "Call logged" in sold.text and "qualified → customer" in sold.text
    assert 'action="/calls/next"' in sold.text and 'data-key="n"' in sold.text  # offered
    assert _figure(sold.text, "sales-today") == "1"
    assert _figure(sold.text, "revenue-week") == "1,250.50"
    assert _figure(sold.text, "connected-today") == "1"
    after = _zoe(committed_db)
    assert after.stage == "customer" and after.stage_reason == "won"
    with committed_db.unit_of_work(read_only=True) as session:
        touch = session.scalars(select(Touch)).one()
        assert (touch.outcome, touch.amount, touch.contact_id) == ("sale", 1250.5, zoe.id)
    # Nobody is left: the next call says so, and why.
    nobody = _next(browsers["alice"])
    assert "Nobody to call now" in nobody and "no qualified prospect is assigned to you" in nobody


def test_another_agent_never_gets_nor_logs_that_prospect(
    browsers: dict[str, Browser], committed_db: Database
) -> None:
    zoe = _zoe(committed_db)
    bob, csrf = browsers["bob"]
    assert f'data-contact="{zoe.id}"' not in bob.get("/calls").text
    answer = _next(browsers["bob"])
    assert "Nobody to call now" in answer and "Zoé" not in answer
    refused = bob.post(
        f"/calls/{zoe.id}/outcome", data={"csrf_token": csrf, "outcome": "no_answer"}
    )
    assert refused.status_code == 404
    missing = bob.post(
        f"/calls/{zoe.id + 1000}/outcome", data={"csrf_token": csrf, "outcome": "no_answer"}
    )
    assert missing.status_code == 404
    # Looking at a colleague's console is for managers and admins.
    assert bob.get("/calls", params={"agent": "alice"}).status_code == 404
    assert _touches(committed_db) == 0


def test_an_outcome_without_the_csrf_token_is_refused(
    browsers: dict[str, Browser], committed_db: Database
) -> None:
    client, _ = browsers["alice"]
    zoe = _zoe(committed_db)
    _next(browsers["alice"])
    answer = client.post(f"/calls/{zoe.id}/outcome", data={"outcome": "sale", "amount": "10"})
    assert answer.status_code == 403
    assert client.post("/calls/next").status_code == 403
    assert _touches(committed_db) == 0 and _zoe(committed_db).stage == "qualified"


def test_htmx_gets_the_call_card_and_the_queue_and_figures_out_of_band(
    browsers: dict[str, Browser], committed_db: Database
) -> None:
    client, csrf = browsers["alice"]
    zoe = _zoe(committed_db)
    htmx = {"HX-Request": "true"}
    card = client.post("/calls/next", data={"csrf_token": csrf}, headers=htmx)
    assert card.headers["HX-Retarget"] == "#call"
    assert "<html" not in card.text and 'id="queue" aria-labelledby' in card.text
    assert 'hx-swap-oob="true"' in card.text
    # A call-back without its time: the message beside the call, nothing recorded.
    refused = client.post(
        f"/calls/{zoe.id}/outcome", data={"csrf_token": csrf, "outcome": "callback"}, headers=htmx
    )
    assert refused.status_code == 200 and "HX-Retarget" not in refused.headers
    assert "Give the call-back date and time." in refused.text
    assert _touches(committed_db) == 0
    later = client.post(
        f"/calls/{zoe.id}/outcome",
        data={"csrf_token": csrf, "outcome": "callback", "callback_at": "2026-12-03T15:30"},
        headers=htmx,
    )
    assert later.headers["HX-Retarget"] == "#call"
    assert "call back at 2026-12-03 15:30" in later.text
    with committed_db.unit_of_work(read_only=True) as session:
        touch = session.scalars(select(Touch)).one()
        assert touch.callback_at == datetime(2026, 12, 3, 15, 30, tzinfo=PARIS)


def test_outside_the_calling_hours_the_console_says_why_and_until_when(
    browsers: dict[str, Browser], frozen: Callable[[datetime], None], committed_db: Database
) -> None:
    frozen(SATURDAY)
    client, csrf = browsers["alice"]
    assert "Calls are not allowed now." in client.get("/calls").text
    answer = _next(browsers["alice"])
    assert "Nobody to call now" in answer and "closed day" in answer
    call = answer.split('id="call"')[1].split("</section>")[0]
    assert "Monday" in call and "Zoé" not in call
    zoe = _zoe(committed_db)
    refused = client.post(
        f"/calls/{zoe.id}/outcome", data={"csrf_token": csrf, "outcome": "no_answer"}
    )
    assert refused.status_code == 422 and "Nothing was recorded." in refused.text
    assert _touches(committed_db) == 0


def test_a_manager_looks_at_an_agents_queue_and_figures(
    browsers: dict[str, Browser], committed_db: Database, sign_in: Callable[..., str]
) -> None:
    manager, _ = browsers["max"]
    zoe = _zoe(committed_db)
    page = manager.get("/calls", params={"agent": "alice"})
    assert page.status_code == 200
    assert f'data-contact="{zoe.id}"' in page.text and 'data-key="n"' not in page.text
    assert '<option value="bob"' in page.text
    with committed_db.unit_of_work() as session:
        access.add_user(session, "eve", Role.AGENT)  # in no team of Max's
    assert manager.get("/calls", params={"agent": "eve"}).status_code == 404


def test_the_console_speaks_french_by_default(browsers: dict[str, Browser]) -> None:
    client, _ = browsers["alice"]
    client.cookies.delete("leadsift_lang")
    page = client.get("/calls")
    assert page.headers["Content-Language"] == "fr"
    assert "Appel suivant" in page.text and "Raccourcis clavier" in page.text
    assert "Next call" not in page.text
    call = _next(browsers["alice"])
    assert "Vente" in call and "Pas de réponse" in call


def test_every_outcome_of_the_call_log_has_a_key() -> None:
    assert sorted(outcome for outcome, _, _ in OUTCOME_KEYS) == sorted(OUTCOMES)
    assert [key for _, key, _ in OUTCOME_KEYS] == ["1", "2", "3", "4", "5", "6"]


def test_typed_amounts_and_call_back_times() -> None:
    now = WEDNESDAY_10_05
    assert sale_amount("1 250,50") == 1250.5 and sale_amount("0") == 0
    for bad in ("", "-1", "nan", "inf", "ten"):
        with pytest.raises(InvalidInputError):
            sale_amount(bad)
    assert callback_moment("2026-12-03T09:00", PARIS, now) == datetime(
        2026, 12, 3, 9, 0, tzinfo=PARIS
    )
    with pytest.raises(InvalidInputError, match="future"):
        callback_moment("2026-12-01T09:00", PARIS, now)
    for typed in ("tomorrow", "", None):
        with pytest.raises(InvalidInputError, match="Give the call-back date and time"):
            callback_moment(typed, PARIS, now)
