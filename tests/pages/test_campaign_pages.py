"""The campaign and promo code pages: a campaign created through the form (a bad template shows
the form again with what to fix), previewed for a contact, scheduled, sent by the worker to the
file channel, and its figures on the pages; promo programs and redemptions; who may do what."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import repository as access_repository
from leadsift.access.schemas import Role
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.engagement.tracked_links import pixel_url
from leadsift.outreach.campaign_views import delivery_figures, parse_start
from leadsift.outreach.models import Campaign, CampaignChange
from leadsift.outreach.schemas import CampaignView
from tests.outreach_helpers import cli_json, import_campaign_people, run_worker
from tests.pages.conftest import csrf_of

TARGET = 'email contains "@exemple.fr"'
PLAYBOOK = f"name: Offre\neligibility: {TARGET}\n"
FR_TEXT = (
    "Bonjour {{ contact.first_name }},\nVotre offre : {{ link }}\n"
    "Se désinscrire : {{ unsubscribe_url }}"
)
EN_TEXT = (
    "Hello {{ contact.first_name }},\nYour offer: {{ link }}\nUnsubscribe: {{ unsubscribe_url }}"
)
_LINK = re.compile(r"/t/c/[A-Za-z0-9._~-]+")
_CODE = re.compile(r"Code : (\S+)")


@pytest.fixture
def people(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path) -> dict[str, int]:
    """Ana (French) and Bob (English) agreed to emails; Cyd refused. Their contact ids."""
    return import_campaign_people(capsys, db_url, tmp_path)


@pytest.fixture
def customers_to_be(
    capsys: pytest.CaptureFixture[str], people: dict[str, int], db_url: str, tmp_path: Path
) -> dict[str, int]:
    """The same people, leads of an active playbook: a redemption makes them customers."""
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    cli_json(capsys, "--db", db_url, "--json", "qualify", "--playbook", str(playbook))
    return people


def _form(csrf: str, **fields: Any) -> dict[str, Any]:
    values = {
        "csrf_token": csrf,
        "key": "spring",
        "channel": "email",
        "audience": "b2c",
        "target_kind": "expression",
        "target": TARGET,
        "default_language": "fr",
        "marketing": "true",
        "subject_fr": "{{ contact.first_name }}, votre offre",
        "text_fr": FR_TEXT,
        "subject_en": "{{ contact.first_name }}, your offer",
        "text_en": EN_TEXT,
        "link_url": "https://shop.example/offre",
        "control": "0",
        "throttle": "",
    }
    values.update(fields)
    return values


def _create(client: TestClient, csrf: str, **fields: Any) -> int:
    answer = client.post("/campaigns", data=_form(csrf, **fields))
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/campaigns/\d+", location)
    return int(location.rsplit("/", 1)[1])


def _figure(html: str, label: str) -> str:
    """The value shown beside LABEL in a list of facts."""
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd[^>]*>([^<]*)</dd>", html)
    assert found is not None, f"no {label!r} on the page"
    return found.group(1).strip()


def _mails(outbox: Path) -> dict[str, str]:
    """Each recipient's plain text, from the .eml files the file channel wrote."""
    found = {}
    for path in sorted((outbox / "email").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        found[str(message["To"])] = body.get_content()
    return found


def _send(db_url: str, outbox: Path) -> dict[str, int]:
    return run_worker(Settings(database_url=db_url, email_transport="file", outbox_dir=str(outbox)))


def test_a_bad_template_shows_the_form_again_with_what_to_fix(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, people: dict[str, int]
) -> None:
    csrf = sign_in(pages, "alice", Role.ADMIN)
    pages.cookies.set("leadsift_lang", "en")
    form = pages.get("/campaigns/new")
    assert form.status_code == 200
    assert csrf_of(form.text) == csrf
    assert 'name="text_fr"' in form.text and 'name="text_en"' in form.text

    typo = pages.post("/campaigns", data=_form(csrf, text_fr="Bonjour {{ contact.frist_name }}"))
    assert typo.status_code == 422
    assert "The campaign was not created" in typo.text
    assert "template, fr.text: contact has no field &#39;frist_name&#39;" in typo.text
    assert "did you mean &#39;first_name&#39;?" in typo.text
    # What was typed is still there, to be fixed rather than typed again.
    assert 'value="spring"' in typo.text
    assert "Bonjour {{ contact.frist_name }}</textarea>" in typo.text

    no_link_out = pages.post(
        "/campaigns", data=_form(csrf, text_en="Hello {{ contact.first_name }}")
    )
    assert no_link_out.status_code == 422
    assert "a marketing email needs a visible unsubscribe link" in no_link_out.text
    bad_target = pages.post("/campaigns", data=_form(csrf, target='cty = "Lyon"'))
    assert bad_target.status_code == 422
    assert "unknown field &#39;cty&#39; — did you mean &#39;city&#39;?" in bad_target.text
    no_program = pages.post("/campaigns", data=_form(csrf, promo="nope"))
    assert "no promo program &#39;nope&#39;" in no_program.text
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Campaign)).all() == []

    _create(pages, csrf)
    taken = pages.post("/campaigns", data=_form(csrf))
    assert taken.status_code == 409
    assert "campaign &#39;spring&#39; already exists" in taken.text


def test_create_preview_schedule_send_and_see_the_figures(
    pages: TestClient,
    sign_in: Callable[..., str],
    committed_db: Database,
    people: dict[str, int],
    tmp_path: Path,
) -> None:
    db_url = committed_db.url
    csrf = sign_in(pages, "alice", Role.ADMIN)
    pages.cookies.set("leadsift_lang", "en")
    assert "No campaign yet." in pages.get("/campaigns").text
    campaign_id = _create(pages, csrf)
    page = pages.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert "<h1>Campaign spring</h1>" in page.text
    assert '<p class="figure">3</p>' in page.text  # contacts matching the target now
    assert 'href="/reports/lift?campaign=spring"' in page.text
    assert 'href="/reports/campaigns"' in page.text

    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}  # as htmx sends them from the page
    ana = pages.post(f"/campaigns/{campaign_id}/preview", data={"contact": "ana@exemple.fr"},
                     headers=htmx)  # fmt: skip
    assert ana.status_code == 200
    assert "<html" not in ana.text  # a fragment for htmx
    assert "Would be sent" in ana.text
    assert "Ana, votre offre" in ana.text
    assert "Bonjour Ana," in ana.text
    bob = pages.post(f"/campaigns/{campaign_id}/preview", data={"contact": str(people["bob"])},
                     headers=htmx)  # fmt: skip
    assert "Hello Bob," in bob.text
    cyd = pages.post(f"/campaigns/{campaign_id}/preview", data={"contact": "cyd@exemple.fr"},
                     headers=htmx)  # fmt: skip
    assert "Would be skipped" in cyd.text
    assert "Bonjour Cyd," in cyd.text
    nobody = pages.post(f"/campaigns/{campaign_id}/preview", data={"contact": "zed@exemple.fr"},
                        headers=htmx)  # fmt: skip
    assert "no contact matches &#39;zed@exemple.fr&#39;" in nobody.text
    # Without htmx the whole page comes back, the preview in it.
    whole = pages.post(f"/campaigns/{campaign_id}/preview",
                       data={"csrf_token": csrf, "contact": "ana@exemple.fr"})  # fmt: skip
    assert "<h1>Campaign spring</h1>" in whole.text and "Bonjour Ana," in whole.text

    launched = pages.post(f"/campaigns/{campaign_id}/schedule",
                          data={"csrf_token": csrf, "when": "now"})  # fmt: skip
    assert launched.status_code == 303
    page = pages.get(f"/campaigns/{campaign_id}").text
    assert _figure(page, "Recipients") == "2"
    assert _figure(page, "Skipped: withdrawn") == "1"  # Cyd said no
    assert _figure(page, "Waiting to be sent") == "2"
    with committed_db.unit_of_work(read_only=True) as session:
        actors = set(session.scalars(select(CampaignChange.actor)))
        alice = access_repository.user_by_name(session, "alice")
    assert alice is not None and actors == {f"user:{alice.id}"}  # created, then scheduled

    assert _send(db_url, tmp_path / "outbox") == {"sent": 2}
    mails = _mails(tmp_path / "outbox")
    assert set(mails) == {"ana@exemple.fr", "bob@exemple.fr"}
    assert mails["bob@exemple.fr"].startswith("Hello Bob,")
    page = pages.get(f"/campaigns/{campaign_id}").text
    assert _figure(page, "Sent") == "2"
    assert _figure(page, "Delivered (accepted by the server)") == "2"
    assert _figure(page, "Waiting to be sent") == "0"
    assert _figure(page, "Bounced") == "0"
    listed = pages.get("/campaigns").text
    assert f'<a href="/campaigns/{campaign_id}">spring</a>' in listed
    assert re.search(
        r"scheduled</span></td>\s*<td>email · B2C</td>\s*<td class=\"num\">\s*2", listed
    )

    # Ana opens her email and clicks its link; Bob does nothing.
    with committed_db.unit_of_work() as session:
        pixel = pixel_url(session, "https://testserver", "spring", people["ana"])
    assert pages.get(pixel).status_code == 200
    link = _LINK.search(mails["ana@exemple.fr"])
    assert link is not None
    assert pages.get(link.group(0)).headers["location"].startswith("https://shop.example/offre")
    results = pages.get(f"/campaigns/{campaign_id}/engagement", headers=htmx)
    assert results.status_code == 200
    rows = dict(
        re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', results.text)
    )
    assert rows == {"People the first message reached": "2", "Opened": "1", "Clicked": "1",
                    "Unsubscribed": "0"}  # fmt: skip
    assert "50.0%" in results.text
    assert "data-chart=" in results.text


def test_schedule_at_a_paris_time_then_pause_and_resume(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, people: dict[str, int]
) -> None:
    csrf = sign_in(pages, "alice", Role.ADMIN)
    pages.cookies.set("leadsift_lang", "en")
    campaign_id = _create(pages, csrf, throttle="500/h", control="10%")
    url = f"/campaigns/{campaign_id}"
    wrong = pages.post(f"{url}/schedule", data={"csrf_token": csrf, "when": "at", "at": "soon"})
    assert wrong.status_code == 422
    assert "Start at &#39;soon&#39;: give a date and time" in wrong.text
    empty = pages.post(f"{url}/schedule", data={"csrf_token": csrf, "when": "at", "at": ""})
    assert "Start at: give a date and time, or launch now" in empty.text
    done = pages.post(
        f"{url}/schedule", data={"csrf_token": csrf, "when": "at", "at": "2030-06-01T09:00"}
    )
    assert done.status_code == 303
    with committed_db.unit_of_work(read_only=True) as session:
        campaign = session.scalars(select(Campaign)).one()
        assert campaign.scheduled_at == datetime(2030, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 in Paris
        assert (campaign.throttle_per_hour, campaign.control_percent) == (500, 10.0)
    page = pages.get(url).text
    assert "2030-06-01 09:00" in page
    assert _figure(page, "Throttle") == "500 per hour"
    again = pages.post(f"{url}/schedule", data={"csrf_token": csrf, "when": "now"})
    assert again.status_code == 409
    assert "only a draft can be scheduled" in again.text
    assert pages.post(f"{url}/pause", data={"csrf_token": csrf}).status_code == 303
    assert '<span class="badge">paused</span>' in pages.get(url).text
    assert pages.post(f"{url}/pause", data={"csrf_token": csrf}).status_code == 409
    assert pages.post(f"{url}/resume", data={"csrf_token": csrf}).status_code == 303
    assert '<span class="badge">scheduled</span>' in pages.get(url).text


def test_promo_codes_issued_by_a_campaign_and_redeemed(
    pages: TestClient,
    sign_in: Callable[..., str],
    committed_db: Database,
    customers_to_be: dict[str, int],
    tmp_path: Path,
) -> None:
    people, db_url = customers_to_be, committed_db.url
    csrf = sign_in(pages, "alice", Role.ADMIN)
    pages.cookies.set("leadsift_lang", "en")
    made = pages.post(
        "/promo-codes/programs",
        data={"csrf_token": csrf, "key": "welcome", "discount": "20%", "max_redemptions": "10",
              "one_per_customer": "true"},
    )  # fmt: skip
    assert made.status_code == 303
    bad = pages.post("/promo-codes/programs", data={"csrf_token": csrf, "key": "x", "discount": ""})
    assert bad.status_code == 422
    assert "say what the code gives" in bad.text
    text = "Bonjour {{ contact.first_name }}\nCode : {{ promo_code }}\n{{ unsubscribe_url }}"
    campaign_id = _create(pages, csrf, key="codes", promo="welcome", text_fr=text, text_en="",
                          subject_en="", link_url="")  # fmt: skip
    preview = pages.post(f"/campaigns/{campaign_id}/preview", data={"contact": "ana@exemple.fr"},
                         headers={"HX-Request": "true", "X-CSRF-Token": csrf})  # fmt: skip
    assert "Code : PREVIEW-CODE" in preview.text
    pages.post(f"/campaigns/{campaign_id}/schedule", data={"csrf_token": csrf, "when": "now"})
    assert _send(db_url, tmp_path / "outbox") == {"sent": 2}
    mails = _mails(tmp_path / "outbox")
    assert mails["bob@exemple.fr"].startswith("Bonjour Bob")  # no English: French for everyone
    code = _CODE.search(mails["ana@exemple.fr"])
    assert code is not None

    page = pages.get("/promo-codes").text
    assert re.search(rf'<a href="/campaigns/{campaign_id}">codes</a></th>\s*<td>welcome</td>\s*'
                     r'<td class="num">2</td>', page)  # fmt: skip
    wrong = pages.post("/promo-codes/redeem", data={"csrf_token": csrf, "code": code.group(1),
                                                    "contact": "bob@exemple.fr"})  # fmt: skip
    assert wrong.status_code == 409
    assert "issued to another customer" in wrong.text
    sale = {"csrf_token": csrf, "code": code.group(1), "amount": "42,50"}  # a decimal comma
    redeemed = pages.post("/promo-codes/redeem", data=sale)
    assert redeemed.status_code == 200
    assert f"Code {code.group(1)} redeemed: contact {people['ana']} is now customer." in (
        redeemed.text
    )
    assert re.search(r"<th scope=\"row\">welcome</th>(.|\n)*?<td class=\"num\">1</td>\s*</tr>",
                     pages.get("/promo-codes").text)  # fmt: skip
    results = pages.get(f"/campaigns/{campaign_id}/engagement").text  # the whole page, no htmx
    assert "<h1>Campaign codes</h1>" in results
    assert re.search(r'Redeemed a code</th><td class="num">1</td><td class="num">50.0%', results)
    again = pages.post("/promo-codes/redeem", data={"csrf_token": csrf, "code": code.group(1)})
    assert again.status_code == 409
    assert "already redeemed" in again.text


def test_agents_may_not_and_managers_see_only_their_contacts(
    make_pages: Callable[..., TestClient],
    sign_in: Callable[..., str],
    people: dict[str, int],
) -> None:
    admin, manager, agent = make_pages(), make_pages(), make_pages()
    campaign_id = _create(admin, sign_in(admin, "alice", Role.ADMIN))
    csrf = sign_in(agent, "carl", Role.AGENT)
    for path in ("/campaigns", "/campaigns/new", f"/campaigns/{campaign_id}", "/promo-codes",
                 f"/campaigns/{campaign_id}/engagement"):  # fmt: skip
        assert agent.get(path).status_code == 403, path
    assert agent.post("/campaigns", data=_form(csrf, key="mine")).status_code == 403
    assert agent.post(f"/campaigns/{campaign_id}/schedule", data={"csrf_token": csrf}
                      ).status_code == 403  # fmt: skip

    csrf = sign_in(manager, "mona", Role.MANAGER)
    assert manager.get(f"/campaigns/{campaign_id}").status_code == 200
    # Nobody of her teams owns Ana: refused like a contact that does not exist.
    hidden = manager.post(f"/campaigns/{campaign_id}/preview",
                          data={"csrf_token": csrf, "contact": "ana@exemple.fr"})  # fmt: skip
    assert hidden.status_code == 422
    assert "Bonjour Ana" not in hidden.text
    assert "no contact matches &#39;ana@exemple.fr&#39; among those you may see" in hidden.text
    # Redeeming is a sale: admins only, as in the API.
    assert manager.get("/promo-codes").status_code == 200
    assert 'action="/promo-codes/redeem"' not in manager.get("/promo-codes").text
    refused = manager.post("/promo-codes/redeem", data={"csrf_token": csrf, "code": "ABCD"})
    assert refused.status_code == 403
    assert admin.get(f"/campaigns/{campaign_id}").status_code == 200
    assert admin.get("/campaigns/999").status_code == 404


def test_a_post_without_the_csrf_token_is_refused(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, people: dict[str, int]
) -> None:
    csrf = sign_in(pages, "alice", Role.ADMIN)
    form = _form(csrf)
    del form["csrf_token"]
    assert pages.post("/campaigns", data=form).status_code == 403
    assert pages.post("/campaigns", data={**form, "csrf_token": "forged"}).status_code == 403
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Campaign)).all() == []
    campaign_id = _create(pages, csrf)
    for action in ("schedule", "pause", "resume", "preview"):
        assert pages.post(f"/campaigns/{campaign_id}/{action}", data={"when": "now"}
                          ).status_code == 403, action  # fmt: skip
    assert pages.post("/promo-codes/programs", data={"key": "k", "discount": "5%"}).status_code == (
        403
    )
    assert pages.post("/promo-codes/redeem", data={"code": "ABCD"}).status_code == 403
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Campaign.status)).one() == "draft"


def test_french_and_english(
    pages: TestClient, sign_in: Callable[..., str], people: dict[str, int]
) -> None:
    csrf = sign_in(pages, "alice", Role.ADMIN)
    campaign_id = _create(pages, csrf)
    pages.cookies.set("leadsift_lang", "fr")
    french = {path: pages.get(path).text for path in (
        "/campaigns", "/campaigns/new", f"/campaigns/{campaign_id}", "/promo-codes")}  # fmt: skip
    assert "Nouvelle campagne" in french["/campaigns"]
    assert "brouillon" in french["/campaigns"]
    assert "Objet (français, e-mail uniquement)" in french["/campaigns/new"]
    assert "Aperçu pour un contact" in french[f"/campaigns/{campaign_id}"]
    assert "Contacts correspondant à la cible maintenant" in french[f"/campaigns/{campaign_id}"]
    assert "Gain par rapport au groupe témoin" in french[f"/campaigns/{campaign_id}"]
    assert "Nouveau programme" in french["/promo-codes"]
    assert all('lang="fr"' in text for text in french.values())
    preview = pages.post(f"/campaigns/{campaign_id}/preview", data={"contact": "ana@exemple.fr"},
                         headers={"HX-Request": "true", "X-CSRF-Token": csrf})  # fmt: skip
    assert "Serait envoyé" in preview.text
    pages.cookies.set("leadsift_lang", "en")
    english = pages.get(f"/campaigns/{campaign_id}").text
    assert 'lang="en"' in english
    assert "Preview for a contact" in english and "Aperçu" not in english
    assert "New campaign" in pages.get("/campaigns").text


def test_delivery_figures_and_start_times() -> None:
    view = CampaignView(
        key="k", channel="email", audience="b2c", target="x", status="scheduled", steps=2,
        control_percent=0, throttle_per_hour=None, link_url=None, promo=None, scheduled_at=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        outbox={"0": {"sent": 5, "bounced": 1, "pending": 2, "control": 3, "ambiguous": 1},
                "1": {"sent": 2, "held": 4, "stopped": 1, "skipped": 2, "failed": 1}},
    )  # fmt: skip
    assert delivery_figures(view) == {
        "waiting": 6, "sent": 9, "delivered": 7, "bounced": 1, "failed": 1, "skipped": 2,
        "ambiguous": 1, "stopped": 1, "control": 3,
    }  # fmt: skip
    assert parse_start("2026-01-15T09:30") == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
    assert parse_start("2026-07-15T09:30") == datetime(2026, 7, 15, 7, 30, tzinfo=UTC)
    assert parse_start("2026-07-15T09:30+00:00") == datetime(2026, 7, 15, 9, 30, tzinfo=UTC)
