"""The contact page: identity, consent, the stage history with each change's explanation, the
score breakdowns, the event timeline, messages and codes; 404 for someone else's contact."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access.schemas import Role
from leadsift.agents import service as agents
from leadsift.contacts import service as contacts
from leadsift.contacts.models import Contact
from leadsift.contacts.schemas import ImportOptions
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.outreach import campaigns, promo
from leadsift.outreach.models import OutboxMessage
from leadsift.outreach.schemas import CampaignSpec
from leadsift.qualification import service as qualification
from leadsift.scoring import service as scoring
from leadsift.workspace import Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer-25-35"
ENGLISH = {"Accept-Language": "en"}
CAMILLE = "camille.martin@example.com"
TEMPLATE = """\
channel: email
default_language: fr
fr:
  subject: "{{ contact.first_name }}, -20 %"
  text: |
    Bonjour {{ contact.first_name }}, votre code : {{ promo_code }}
    Se désinscrire : {{ unsubscribe_url }}
"""


@pytest.fixture
def workspace(db_url: str, committed_db: Database) -> Iterator[Workspace]:
    """The example's 20 contacts qualified by its playbook; Camille then visits the offer and
    sends a form, which makes her a qualified prospect (a hand raiser)."""
    with committed_db.unit_of_work() as session:
        contacts.import_contacts(session, EXAMPLE / "contacts.csv", ImportOptions())
        playbook = (EXAMPLE / "playbook.yaml").read_text(encoding="utf-8")
        qualification.qualify(session, playbook, "playbook.yaml")
    with Workspace(db_url) as opened:
        opened.record_events(
            [
                {"type": "page_view", "email": CAMILLE, "properties": {"path": "/offre/ete"}},
                {"type": "form_submitted", "email": CAMILLE},
            ]
        )
        yield opened


def _id_of(database: Database, email: str) -> int:
    with database.unit_of_work(read_only=True) as session:
        return session.scalars(select(Contact.id).where(Contact.email == email)).one()


def test_the_page_explains_every_stage_change_and_the_scores(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, workspace: Workspace
) -> None:
    camille = _id_of(committed_db, CAMILLE)
    sign_in(pages, "admin")
    page = pages.get(f"/contacts/{camille}", headers=ENGLISH)
    assert page.status_code == 200
    text = page.text
    # Identity and consent (the file said yes to email, no to SMS).
    assert "Camille Martin" in text and CAMILLE in text and "jeu-concours" in text
    assert re.search(r"<th scope=\"row\">email</th>\s*<td>granted</td>", text)
    assert re.search(r"<th scope=\"row\">sms</th>\s*<td>withdrawn</td>", text)
    # The history, newest first: the policy's promotion, then the playbook's evaluation.
    promoted = text.index("Qualify rule:")
    evaluated = text.index("Playbook Offre jeunes actifs")
    assert promoted < evaluated
    assert "fit &gt;= 10 and interest &gt;= 40" in text
    assert re.search(r"Hands raised: #\d+ form_submitted", text)
    assert "hand_raiser" in text and "criteria_met" in text
    assert "age between 25 and 35" in text
    # The fit breakdown: 29 years old (10), email consent (5), Paris (5); no SMS consent.
    assert "Fit 20" in text
    points = r'</code></td><td class="num">(-?\d+)</td><td>(\w+)</td><td class="num">(\d+)</td>'
    assert re.findall(r"Cœur de cible <code>[^<]*" + points, text)[0] == ("10", "yes", "10")
    assert re.findall(r"Joignable par SMS <code>[^<]*" + points, text)[0] == ("5", "no", "0")
    # The interest breakdown: 5 for the offer page, 40 for the form.
    assert "Interest 45.0 (half-life 2w)" in text
    assert "No active model" in text
    b2b = pages.get(f"/contacts/{camille}", params={"audience": "b2b"}, headers=ENGLISH)
    assert "Consent (b2b)" in b2b.text and "Consent (b2c)" in text


def test_the_prediction_shows_each_features_contribution(
    pages: TestClient,
    sign_in: Callable[..., str],
    committed_db: Database,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []

    def explained(_session: Any, contact_id: int, _now: datetime, top: int = 5) -> dict[str, Any]:
        seen.append(contact_id)
        return {
            "model_id": 3, "kind": "logistic", "probability": 0.42, "priority": 37.5,
            "raw_output": -0.3, "base": -1.2, "others": -0.05,
            "contributions": [
                {"feature": "count(page_view)", "value": 4, "contribution": 0.81},
                {"feature": "source", "value": "jeu-concours", "contribution": -0.25},
            ],
        }  # fmt: skip

    monkeypatch.setattr(scoring, "explain", explained)
    camille = _id_of(committed_db, CAMILLE)
    sign_in(pages, "admin")
    text = pages.get(f"/contacts/{camille}", headers=ENGLISH).text
    assert seen == [camille]
    assert "Probability 42.0%, priority 37.50 (model 3, logistic)" in text
    assert re.search(r"count\(page_view\)</td><td>4</td><td class=\"num\">\+0.810</td>", text)
    assert re.search(r"jeu-concours</td><td class=\"num\">−0.250</td>", text)
    assert "data-chart=" in text and "/static/vendor/chart.umd.min.js" in text


def test_an_agent_gets_the_missing_contact_page_for_anyone_elses_contact(
    make_pages: Callable[..., TestClient],
    sign_in: Callable[..., str],
    committed_db: Database,
    workspace: Workspace,
) -> None:
    camille, lucas = (
        _id_of(committed_db, CAMILLE),
        _id_of(committed_db, "lucas.bernard@example.com"),
    )
    alice, bob = make_pages(), make_pages()
    sign_in(alice, "alice", Role.AGENT)
    sign_in(bob, "bob", Role.AGENT)
    with committed_db.unit_of_work() as session:
        for contact_id, user in ((camille, "alice"), (lucas, "bob")):
            agents.assign_contact(session, str(contact_id), to_user=user, to_team=None, caller=None)
    mine = alice.get(f"/contacts/{camille}", headers=ENGLISH)
    assert mine.status_code == 200
    assert re.search(r"<strong>alice</strong>\s*<span class=\"muted\">assigned by cli", mine.text)
    others = alice.get(f"/contacts/{lucas}", headers=ENGLISH)
    missing = alice.get("/contacts/999999", headers=ENGLISH)
    assert others.status_code == missing.status_code == 404
    assert "lucas" not in others.text.lower()
    assert f"no contact {lucas}" in others.text

    def blind(text: str, contact_id: int) -> str:
        # The id appears in the message and in the page's own path (the language links).
        return text.replace(f"no contact {contact_id}", "").replace(f"/contacts/{contact_id}", "")

    assert blind(others.text, lucas) == blind(missing.text, 999999)
    assert bob.get(f"/contacts/{lucas}").status_code == 200


def test_the_timeline_shows_the_newest_events_first_then_older_ones(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, workspace: Workspace
) -> None:
    start = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    visits = [
        {
            "type": "page_view",
            "email": CAMILLE,
            "occurred_at": (start + timedelta(hours=i)).isoformat(),
            "properties": {"path": f"/blog/{i}"},
        }
        for i in range(60)
    ]
    workspace.record_events(visits)
    camille = _id_of(committed_db, CAMILLE)
    sign_in(pages, "admin")
    first = pages.get(f"/contacts/{camille}", headers=ENGLISH).text
    assert first.count("<td><time datetime=") == 50
    # The form and the offer page came last (recorded now); then the blog from the newest.
    assert re.search(r"</time></td>\s*<td>form_submitted</td>", first)
    paths = re.findall(r"<code>path=(/[^<]+)</code>", first)
    assert paths[:3] == ["/offre/ete", "/blog/59", "/blog/58"]
    assert paths[-1] == "/blog/12"  # 50 = the form, the offer page and 48 blog pages
    older = re.search(rf'href="(/contacts/{camille}\?events=100)#events-title"', first)
    assert older is not None
    every = pages.get(older.group(1)).text
    assert every.count("<td><time datetime=") == 62
    assert re.findall(r"<code>path=(/[^<]+)</code>", every)[-1] == "/blog/0"
    assert "?events=150" not in every  # nothing older left


def test_messages_and_promo_codes_of_the_contact(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, workspace: Workspace
) -> None:
    camille = _id_of(committed_db, CAMILLE)
    now = utcnow()
    with committed_db.unit_of_work() as session:
        program = promo.create_program(session, "summer", discount="20%", now=now)
        spec = CampaignSpec(
            key="summer-offer", template=yaml.safe_load(TEMPLATE), template_source="t.yaml",
            target=f"id = {camille}", promo="summer",
        )  # fmt: skip
        campaigns.create(session, spec, now)
        campaigns.schedule(session, "summer-offer", at=None, now=now)
        message = session.scalars(select(OutboxMessage)).one()
        claim = {"id": message.id, "contact_id": camille, "campaign_id": message.campaign_id}
        code = promo.issue_codes(session, program, [claim], now)[message.id]
    sign_in(pages, "admin")
    english = pages.get(f"/contacts/{camille}", headers=ENGLISH).text
    assert re.search(
        r"<td>summer-offer</td><td>email</td><td class=\"num\">1</td><td>pending</td>", english
    )
    assert f"<td><code>{code}</code></td><td>summer</td><td>summer-offer</td>" in english
    french = pages.get(f"/contacts/{camille}").text
    assert 'lang="fr"' in french
    for words in ("Historique des étapes", "Codes promo", "Identité", "Règle de qualification :"):
        assert words in french
    assert "Stage history" not in french
