"""The public website endpoints in-process: script, page views, pixel, clicks, forms, limits.

Each test runs on SQLite and on PostgreSQL (when configured), against an app started on a
database it commits to. Pure rules (identity plans, tokens, URLs) are tested at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadsift.config import Settings
from leadsift.contacts.forms import (
    IdentityPlan,
    Owner,
    consent_to_record,
    fill_empty,
    plan_identity,
)
from leadsift.contacts.models import ConsentRecord, ConsentWording, Contact
from leadsift.db import Database
from leadsift.engagement import tokens, tracked_links, web_forms
from leadsift.engagement.models import Event, VisitorLink
from leadsift.engagement.tracking import PIXEL
from leadsift.engagement.tracking_cli import register
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import CliState

WORDING = "I agree to receive offers from Example by email. I can unsubscribe at any time."
MARKUP = "<script>alert(1)</script> [bold red]x[/bold red] & \"q\" 'q'"


# --- helpers ---------------------------------------------------------------------------------


def _secret(db: Database) -> bytes:
    with db.unit_of_work() as session:
        return tracked_links.tracking_secret(session)


def _add_contact(db: Database, **values: Any) -> int:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        contact = Contact(**values, created_at=now, updated_at=now)
        session.add(contact)
        session.flush()
        return contact.id


def _contact(db: Database, contact_id: int) -> Contact:
    with db.unit_of_work() as session:
        found = session.get(Contact, contact_id)
        assert found is not None
        return found


def _contact_by_email(db: Database, email: str) -> Contact | None:
    with db.unit_of_work() as session:
        return session.scalars(select(Contact).where(Contact.email == email)).one_or_none()


def _events(db: Database, **where: Any) -> list[Event]:
    with db.unit_of_work() as session:
        query = select(Event).filter_by(**where).order_by(Event.id)
        return list(session.scalars(query))


def _count(db: Database, model: Any) -> int:
    with db.unit_of_work() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _consent(db: Database, contact_id: int) -> list[ConsentRecord]:
    with db.unit_of_work() as session:
        query = select(ConsentRecord).where(ConsentRecord.contact_id == contact_id)
        return list(session.scalars(query.order_by(ConsentRecord.id)))


def _view(aid: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "aid": aid, "url": url, "title": "A page", **extra}


def _post_view(client: TestClient, body: Any, **headers: str) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    # As navigator.sendBeacon sends a string: text/plain.
    return client.post(
        "/t/e", content=text, headers={"content-type": "text/plain;charset=UTF-8", **headers}
    )


def _id_of(db: Database, email: str) -> int:
    with db.unit_of_work() as session:
        return session.scalars(select(Contact.id).where(Contact.email == email)).one()


def _form(client: TestClient, **fields: str) -> Any:
    headers = {"user-agent": fields.pop("user_agent", "Mozilla/5.0 test")}
    return client.post("/t/form", data=fields, headers=headers)


# --- the script and page views ---------------------------------------------------------------


def test_script_is_served_as_javascript_with_a_short_cache(app_client: TestClient) -> None:
    answer = app_client.get("/t/leadsift.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=300"
    script = answer.text
    for needed in ("ls_aid", "SameSite=Lax", "sendBeacon", "/t/e", "/t/form", "keepalive"):
        assert needed in script
    # 13 months at most (CNIL): the cookie's max-age is 390 days.
    assert "390 * 24 * 3600" in script
    assert "http" not in script.replace("https:", "")  # no external address


def test_page_view_is_stored_with_its_url_utm_and_user_agent(
    app_client: TestClient, committed_db: Database
) -> None:
    aid = str(uuid.uuid4())
    url = "https://shop.example/pricing?plan=pro&utm_source=newsletter&utm_campaign=spring"
    view = _view(aid, url, referrer="https://search.example/?q=shoes")
    answer = _post_view(app_client, view, **{"user-agent": "Browser/1.0"})
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    (event,) = _events(committed_db, anonymous_id=aid)
    assert event.type == "page_view"
    assert event.contact_id is None
    assert event.properties == {
        "url": url,
        "path": "/pricing",
        "title": "A page",
        "referrer": "https://search.example/?q=shoes",
        "user_agent": "Browser/1.0",
    }
    assert (event.utm_source, event.utm_campaign, event.utm_medium) == (
        "newsletter",
        "spring",
        None,
    )
    assert event.source == "website"
    assert abs(event.occurred_at - datetime.now(UTC)) < timedelta(seconds=30)
    # The same beacon again (same view id) is stored once.
    assert _post_view(app_client, view).status_code == 204
    assert len(_events(committed_db, anonymous_id=aid)) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ("[1, 2]", 422, "invalid_input"),
        ('{"type": "purchase"}', 422, "invalid_event"),
        (json.dumps(_view("visitor-0001", "https://a.example/", extra=1)), 422, "invalid_event"),
        (json.dumps(_view("visitor-0001", "javascript:alert(1)")), 422, "invalid_event"),
        (json.dumps(_view("bad id!", "https://a.example/")), 422, "invalid_event"),
        (json.dumps({"aid": "visitor-0001", "url": "https://a.example/"}), 422, "invalid_event"),
    ],
)
def test_bad_page_views_are_refused_and_store_nothing(
    app_client: TestClient, committed_db: Database, body: str, status: int, code: str
) -> None:
    answer = _post_view(app_client, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.headers["access-control-allow-origin"] == "*"
    assert _count(committed_db, Event) == 0


# --- the open pixel --------------------------------------------------------------------------


def test_pixel_records_an_open_once_per_hour(
    app_client: TestClient, committed_db: Database
) -> None:
    contact_id = _add_contact(committed_db, email="ann@example.com")
    token = tokens.open_token(_secret(committed_db), contact_id, "spring")
    for _ in range(3):  # a mail client and its proxy fetch the image several times
        answer = app_client.get(f"/t/o/{token}.gif")
        assert answer.status_code == 200
        assert answer.content == PIXEL
        assert answer.headers["content-type"] == "image/gif"
        assert "no-store" in answer.headers["cache-control"]
    (event,) = _events(committed_db, contact_id=contact_id)
    assert (event.type, event.campaign, event.source) == ("email_opened", "spring", "email_pixel")


def test_forged_pixel_token_stores_nothing_but_still_answers_the_gif(
    app_client: TestClient, committed_db: Database
) -> None:
    contact_id = _add_contact(committed_db, email="ann@example.com")
    secret = _secret(committed_db)
    genuine = tokens.open_token(secret, contact_id, "spring")
    body, _, mac = genuine.partition(".")
    forged = [
        tokens.open_token(b"another secret" * 3, contact_id, "spring"),
        f"{tokens.open_token(secret, contact_id + 1, 'spring').partition('.')[0]}.{mac}",
        f"{body}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BA'}",  # always another MAC
        tokens.click_token(secret, 1, contact_id, "spring"),  # another purpose
        "nothing-at-all",
    ]
    for token in forged:
        answer = app_client.get(f"/t/o/{token}.gif")
        assert (answer.status_code, answer.content) == (200, PIXEL)
    assert _count(committed_db, Event) == 0


# --- click redirects -------------------------------------------------------------------------


def _register(db: Database, campaign: str, url: str) -> tracked_links.LinkView:
    with db.unit_of_work() as session:
        link, _ = tracked_links.register_link(session, campaign, url, datetime.now(UTC))
        return link


def test_click_records_and_redirects_to_the_registered_url(
    app_client: TestClient, committed_db: Database
) -> None:
    contact_id = _add_contact(committed_db, email="ann@example.com")
    url = "https://shop.example/offer?utm_source=email#top"
    link = _register(committed_db, "spring", url)
    token = tokens.click_token(_secret(committed_db), link.id, contact_id, "spring")
    answer = app_client.get(f"/t/c/{token}", follow_redirects=False)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    registered = urlsplit(url)
    assert (location.scheme, location.netloc, location.path, location.fragment) == (
        registered.scheme,
        registered.netloc,
        registered.path,
        registered.fragment,
    )
    query = parse_qs(location.query)
    assert query["utm_source"] == ["email"]
    assert tokens.read_identify(_secret(committed_db), query["ls_t"][0], datetime.now(UTC)) == (
        contact_id
    )
    (event,) = _events(committed_db, contact_id=contact_id)
    assert (event.type, event.campaign) == ("email_clicked", "spring")
    assert event.properties == {"url": url, "link_id": link.id}
    assert event.utm_source == "email"


def test_forged_or_unknown_click_tokens_get_a_404_page_and_store_nothing(
    app_client: TestClient, committed_db: Database
) -> None:
    contact_id = _add_contact(committed_db, email="ann@example.com")
    secret = _secret(committed_db)
    spring = _register(committed_db, "spring", "https://shop.example/spring")
    autumn = _register(committed_db, "autumn", "https://shop.example/autumn")
    genuine = tokens.click_token(secret, spring.id, contact_id, "spring")
    refused = {
        "another secret": tokens.click_token(b"x" * 32, spring.id, contact_id, "spring"),
        "altered": genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
        "unknown link": tokens.click_token(secret, autumn.id + 100, contact_id, "spring"),
        "link of another campaign": tokens.click_token(secret, autumn.id, contact_id, "spring"),
        "open token": tokens.open_token(secret, contact_id, "spring"),
        "garbage with markup": "<script>alert(1)</script>",
    }
    for why, token in refused.items():
        answer = app_client.get(f"/t/c/{token}", follow_redirects=False)
        assert answer.status_code == 404, why
        assert "location" not in answer.headers, why
        assert answer.headers["content-type"].startswith("text/html")
        assert "script" not in answer.text and token not in answer.text, why
    assert _count(committed_db, Event) == 0


def test_tracked_link_identifies_the_landing_visitor_and_stitches_past_visits(
    app_client: TestClient, committed_db: Database
) -> None:
    contact_id = _add_contact(committed_db, email="ann@example.com")
    link = _register(committed_db, "spring", "https://shop.example/offer")
    aid = str(uuid.uuid4())
    assert _post_view(app_client, _view(aid, "https://shop.example/")).status_code == 204
    token = tokens.click_token(_secret(committed_db), link.id, contact_id, "spring")
    landing = app_client.get(f"/t/c/{token}", follow_redirects=False).headers["location"]
    ls_t = parse_qs(urlsplit(landing).query)["ls_t"][0]
    assert _post_view(app_client, _view(aid, landing, t=ls_t)).status_code == 204
    views = _events(committed_db, anonymous_id=aid)
    assert [view.contact_id for view in views] == [contact_id, contact_id]
    # The token says who the visitor is: it is never stored.
    assert views[1].properties["url"] == "https://shop.example/offer"
    assert ls_t not in json.dumps([view.properties for view in views])


def test_expired_or_forged_identification_tokens_identify_nobody(
    app_client: TestClient, committed_db: Database
) -> None:
    contact_id = _add_contact(committed_db, email="ann@example.com")
    secret = _secret(committed_db)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    for ls_t in (
        tokens.identify_token(secret, contact_id, long_ago),
        tokens.identify_token(b"y" * 32, contact_id, datetime.now(UTC)),
        tokens.open_token(secret, contact_id, "spring"),
    ):
        aid = str(uuid.uuid4())
        view = _view(aid, f"https://shop.example/?ls_t={ls_t}", t=ls_t)
        assert _post_view(app_client, view).status_code == 204
        (event,) = _events(committed_db, anonymous_id=aid)
        assert event.contact_id is None
        assert event.properties["url"] == "https://shop.example/"
    assert _count(committed_db, VisitorLink) == 0


def test_events_that_raced_the_link_are_stitched_afterwards(committed_db: Database) -> None:
    """A page view the writer took before the link was committed is stored anonymous; the
    follow-up stitch gives it to the contact, unless the visitor is someone else's by now."""
    ann = _add_contact(committed_db, email="ann@example.com")
    bob = _add_contact(committed_db, email="bob@example.com")
    aid, now = str(uuid.uuid4()), datetime.now(UTC)
    assert web_forms.link_visitor(committed_db, aid, ann, "web_form", now)
    assert not web_forms.link_visitor(committed_db, aid, ann + bob + 1, "web_form", now)
    with committed_db.unit_of_work() as session:
        for n in range(2):
            session.add(
                Event(
                    type="page_view",
                    anonymous_id=aid,
                    occurred_at=now,
                    received_at=now,
                    properties={},
                    dedup_key=os.urandom(16),
                    payload_hash=bytes(16 + n)[:16],
                )
            )
    assert web_forms.stitch_stragglers(committed_db, aid, bob) == 0  # linked to Ann, not Bob
    assert web_forms.stitch_stragglers(committed_db, aid, ann) == 2
    assert [e.contact_id for e in _events(committed_db, anonymous_id=aid)] == [ann, ann]


# --- forms -----------------------------------------------------------------------------------


def test_form_creates_a_contact_with_consent_and_its_exact_wording(
    app_client: TestClient, committed_db: Database
) -> None:
    aid = str(uuid.uuid4())
    answer = _form(
        app_client,
        email=" Ann.Lee@Example.COM ",
        phone="06 12 34 56 78",
        first_name="Ann",
        message="Call me",  # a site's own field: not stored
        consent_email="on",
        consent_text=WORDING,
        ls_aid=aid,
        ls_url="https://shop.example/signup?utm_source=ads",
        ls_form="newsletter",
        user_agent="Browser/2.0",
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    # The answer names no contact: ids are sequential, they would tell who was already known.
    assert answer.json() == {"ok": True}
    contact_id = _id_of(committed_db, "ann.lee@example.com")
    contact = _contact(committed_db, contact_id)
    assert (contact.email, contact.phone, contact.phone_raw) == (
        "ann.lee@example.com",
        "+33612345678",
        "06 12 34 56 78",
    )
    assert (contact.first_name, contact.stage, contact.source) == ("Ann", "contact", "web_form")
    assert contact.attrs == {}
    (consent,) = _consent(committed_db, contact_id)
    digest = hashlib.sha256(WORDING.encode()).hexdigest()
    assert (consent.channel, consent.granted, consent.source) == ("email", True, "web_form")
    assert (consent.wording_hash, consent.ip, consent.user_agent) == (
        digest,
        "testclient",
        "Browser/2.0",
    )
    with committed_db.unit_of_work() as session:
        wording = session.get(ConsentWording, digest)
        assert wording is not None and wording.text == WORDING
    (event,) = _events(committed_db, contact_id=contact_id)
    assert (event.type, event.anonymous_id, event.source) == ("form_submitted", aid, "web_form")
    assert event.properties == {
        "form": "newsletter",
        "url": "https://shop.example/signup?utm_source=ads",
    }
    assert event.utm_source == "ads"
    # The same form again: the consent ledger does not grow, the wording is stored once.
    assert (
        _form(
            app_client, email="ann.lee@example.com", consent_email="yes", consent_text=WORDING
        ).status_code
        == 200
    )
    assert len(_consent(committed_db, contact_id)) == 1
    assert _count(committed_db, ConsentWording) == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"email": "ann@example.com", "consent_email": "on"}, "consent_wording_missing"),
        (
            {"email": "ann@example.com", "consent_sms": "yes", "consent_text": "  "},
            "consent_wording_missing",
        ),
        ({"email": "not an email", "consent_text": WORDING}, "invalid_email"),
        ({"phone": "12", "consent_text": WORDING}, "invalid_phone"),
        ({"first_name": "Ann"}, "no_identifier"),
        (
            {"email": "ann@example.com", "consent_email": "maybe", "consent_text": WORDING},
            "invalid_consent",
        ),
        ({"email": "ann@example.com", "first_name": "A" * 201}, "invalid_field"),
    ],
)
def test_bad_forms_are_refused_with_a_precise_error_and_store_nothing(
    app_client: TestClient, committed_db: Database, fields: dict[str, str], code: str
) -> None:
    answer = _form(app_client, **fields, ls_aid=str(uuid.uuid4()))
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == code
    assert answer.headers["access-control-allow-origin"] == "*"
    for model in (Contact, ConsentRecord, ConsentWording, Event, VisitorLink):
        assert _count(committed_db, model) == 0, model


def test_form_fills_empty_fields_only(app_client: TestClient, committed_db: Database) -> None:
    contact_id = _add_contact(
        committed_db, email="ann@example.com", first_name="Ann", company="Acme", source="import"
    )
    answer = _form(
        app_client,
        email="ann@example.com",
        phone="+33 6 12 34 56 78",
        first_name="Mallory",
        last_name="Lee",
        company="Evil Corp",
        city="Lyon",
    )
    assert answer.json() == {"ok": True}
    contact = _contact(committed_db, contact_id)
    assert (contact.first_name, contact.company, contact.source) == ("Ann", "Acme", "import")
    assert (contact.last_name, contact.city, contact.phone) == ("Lee", "Lyon", "+33612345678")


def test_email_of_one_contact_and_phone_of_another_are_never_merged(
    app_client: TestClient, committed_db: Database
) -> None:
    a_id = _add_contact(committed_db, email="ann@example.com")
    b_id = _add_contact(committed_db, phone="+33612345678", first_name="Bob")
    answer = _form(
        app_client,
        email="ann@example.com",
        phone="0612345678",
        first_name="Ann",
        consent_email="on",
        consent_sms="on",
        consent_text=WORDING,
    )
    assert answer.json() == {"ok": True}
    ann, bob = _contact(committed_db, a_id), _contact(committed_db, b_id)
    assert (ann.phone, ann.first_name) == (None, "Ann")
    assert (bob.email, bob.first_name, bob.phone) == (None, "Bob", "+33612345678")
    assert [(c.channel, c.granted) for c in _consent(committed_db, a_id)] == [("email", True)]
    assert _consent(committed_db, b_id) == []
    (event,) = _events(committed_db, contact_id=a_id)
    assert event.properties["ignored"] == ["phone", "consent_sms"]
    assert _events(committed_db, contact_id=b_id) == []


def test_form_stitches_the_visitors_past_page_views(
    app_client: TestClient, committed_db: Database
) -> None:
    aid = str(uuid.uuid4())
    for path in ("/", "/pricing"):
        assert _post_view(app_client, _view(aid, f"https://shop.example{path}")).status_code == 204
    _form(app_client, email="ann@example.com", ls_aid=aid)
    contact_id = _id_of(committed_db, "ann@example.com")
    assert [e.contact_id for e in _events(committed_db, anonymous_id=aid)] == [contact_id] * 3
    # Later visits belong to the contact at once.
    assert _post_view(app_client, _view(aid, "https://shop.example/after")).status_code == 204
    assert _events(committed_db, anonymous_id=aid)[-1].contact_id == contact_id


def test_a_visitor_already_identified_keeps_its_past_events_with_that_contact(
    app_client: TestClient, committed_db: Database
) -> None:
    """A shared computer: Ann fills a form, then Bob does; Ann's visits stay hers."""
    aid = str(uuid.uuid4())
    _post_view(app_client, _view(aid, "https://shop.example/ann"))
    _form(app_client, email="ann@example.com", ls_aid=aid)
    ann = _id_of(committed_db, "ann@example.com")
    _form(app_client, email="bob@example.com", ls_aid=aid)
    bob = _id_of(committed_db, "bob@example.com")
    _post_view(app_client, _view(aid, "https://shop.example/bob"))
    owners = [(e.type, e.contact_id) for e in _events(committed_db, anonymous_id=aid)]
    assert owners == [
        ("page_view", ann),
        ("form_submitted", ann),
        ("form_submitted", bob),
        ("page_view", bob),
    ]
    assert _contact(committed_db, ann).email == "ann@example.com"


def test_form_accepts_multipart_and_json(app_client: TestClient, committed_db: Database) -> None:
    multipart = app_client.post(
        "/t/form",
        files={
            "email": (None, "ann@example.com"),
            "consent_email": (None, "yes"),
            "consent_text": (None, WORDING),
        },
    )
    assert multipart.status_code == 200, multipart.text
    as_json = app_client.post(
        "/t/form", json={"email": "bob@example.com", "consent_sms": True, "consent_text": WORDING}
    )
    assert as_json.status_code == 200, as_json.text
    bob = _contact_by_email(committed_db, "bob@example.com")
    assert bob is not None
    assert [(c.channel, c.granted) for c in _consent(committed_db, bob.id)] == [("sms", True)]
    preflight = app_client.options(
        "/t/form",
        headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-headers"] == "Content-Type"
    refused = app_client.post("/t/form", content="email=x", headers={"content-type": "text/csv"})
    assert refused.json()["error"]["code"] == "unsupported_content_type"


# --- limits and stored data ------------------------------------------------------------------


def test_public_endpoints_are_rate_limited_per_ip(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(tracking_burst=2, tracking_rate_per_second=0.01)
    view = json.dumps(_view(str(uuid.uuid4()), "https://shop.example/"))
    assert [_post_view(client, view).status_code for _ in range(2)] == [204, 204]
    limited = _post_view(client, view)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["access-control-allow-origin"] == "*"
    assert client.get("/t/o/x.y.gif").status_code == 429
    assert client.get("/t/leadsift.js").status_code == 200  # static: not limited


def test_oversize_bodies_are_refused(app_client: TestClient, committed_db: Database) -> None:
    view = _view(str(uuid.uuid4()), "https://shop.example/", title="x" * 20_000)
    assert _post_view(app_client, view).status_code == 413
    answer = _form(app_client, email="ann@example.com", first_name="x" * 20_000)
    assert answer.status_code == 413
    assert _count(committed_db, Event) == _count(committed_db, Contact) == 0


def test_user_agents_and_referrers_are_stored_verbatim_and_served_as_data(
    app_client: TestClient, committed_db: Database, api_key: Callable[..., str]
) -> None:
    aid = str(uuid.uuid4())
    _form(
        app_client,
        email="ann@example.com",
        consent_email="on",
        consent_text=WORDING,
        ls_aid=aid,
        user_agent=MARKUP,
    )
    contact_id = _id_of(committed_db, "ann@example.com")
    view = _view(
        aid, "https://shop.example/", referrer=f"https://x.example/?q={MARKUP}", title=MARKUP
    )
    assert _post_view(app_client, view, **{"user-agent": MARKUP}).status_code == 204
    (consent,) = _consent(committed_db, contact_id)
    assert consent.user_agent == MARKUP
    page_view = _events(committed_db, type="page_view")[0]
    assert page_view.properties["user_agent"] == MARKUP
    assert page_view.properties["title"] == MARKUP
    assert page_view.properties["referrer"] == f"https://x.example/?q={MARKUP}"
    answer = app_client.get(
        f"/api/v1/contacts/{contact_id}/events",
        headers={"authorization": f"Bearer {api_key('read')}"},
    )
    assert answer.headers["content-type"] == "application/json"
    shown = [e for e in answer.json() if e["type"] == "page_view"]
    assert shown[0]["properties"]["user_agent"] == MARKUP


# --- the CLI ---------------------------------------------------------------------------------


def _cli(db_url: str) -> typer.Typer:
    """A root command like leadsift's, with only `track` registered."""
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context, json_output: bool = typer.Option(False, "--json")) -> None:
        ctx.obj = CliState(db_url, json_output, Settings(database_url=db_url, public_url=None))
        ctx.call_on_close(ctx.obj.close)

    register(app)
    return app


def test_cli_registers_links_and_prints_urls_that_work(
    db_url: str, app_client: TestClient, committed_db: Database
) -> None:
    contact_id = _add_contact(committed_db, email="ann@example.com")
    cli, runner = _cli(db_url), CliRunner()
    args = ["--json", "track", "link", "--campaign", "spring", "--url", "https://shop.example/a"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    again = json.loads(runner.invoke(cli, args).stdout)
    assert json.loads(first.stdout)["created"] is True and again["created"] is False
    assert again["link"]["id"] == json.loads(first.stdout)["link"]["id"]
    base = ["--contact", "ann@example.com", "--base-url", "http://testserver/"]
    tracked = json.loads(runner.invoke(cli, [*args, *base]).stdout)
    assert tracked["contact_id"] == contact_id
    url = tracked["tracked_url"]
    assert url.startswith("http://testserver/t/c/")
    answer = app_client.get(url, follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("https://shop.example/a?ls_t=")
    pixel = runner.invoke(cli, ["track", "pixel", "--campaign", "spring", *base])
    assert pixel.exit_code == 0, pixel.output
    assert app_client.get(pixel.stdout.strip()).content == PIXEL
    types = sorted(e.type for e in _events(committed_db, contact_id=contact_id))
    assert types == ["email_clicked", "email_opened"]
    missing_base = runner.invoke(cli, [*args, "--contact", "ann@example.com"])
    assert isinstance(missing_base.exception, InvalidInputError)
    assert "--base-url" in str(missing_base.exception)
    bad_url = runner.invoke(cli, ["track", "link", "--campaign", "c", "--url", "javascript:x"])
    assert isinstance(bad_url.exception, InvalidInputError)


# --- pure rules ------------------------------------------------------------------------------

ANN = Owner(1, "ann@example.com", None)
ANN_WITH_PHONE = Owner(1, "ann@example.com", "+33600000001")
BOB = Owner(2, None, "+33600000002")
BOB_WITH_EMAIL = Owner(2, "bob@example.com", "+33600000002")


@pytest.mark.parametrize(
    ("email", "phone", "by_email", "by_phone", "plan"),
    [
        ("a@x.io", None, None, None, IdentityPlan(None, "a@x.io", None)),
        (None, "+336", None, None, IdentityPlan(None, None, "+336")),
        ("ann@example.com", "+336", ANN, None, IdentityPlan(1, "ann@example.com", "+336")),
        (
            "ann@example.com",
            "+336",
            ANN_WITH_PHONE,
            None,
            IdentityPlan(1, "ann@example.com", None, ("phone",)),
        ),
        (
            "ann@example.com",
            BOB.phone,
            ANN,
            BOB,
            IdentityPlan(1, "ann@example.com", None, ("phone",)),
        ),
        ("new@x.io", BOB.phone, None, BOB, IdentityPlan(2, "new@x.io", BOB.phone)),
        (
            "new@x.io",
            BOB.phone,
            None,
            BOB_WITH_EMAIL,
            IdentityPlan(None, "new@x.io", None, ("phone",)),
        ),
        (None, BOB.phone, None, BOB_WITH_EMAIL, IdentityPlan(2, None, BOB.phone)),
    ],
)
def test_identity_plans(
    email: str | None,
    phone: str | None,
    by_email: Owner | None,
    by_phone: Owner | None,
    plan: IdentityPlan,
) -> None:
    assert plan_identity(email, phone, by_email, by_phone) == plan


def test_fill_empty_and_consent_rules() -> None:
    assert fill_empty({"a": None, "b": "x", "c": ""}, {"a": 1, "b": 2, "c": 3, "d": None}) == {
        "a": 1,
        "c": 3,
    }
    latest = {"email": (True, "h1"), "sms": (False, "h1")}
    asked = {"email": True, "sms": True, "phone": False}
    assert consent_to_record(asked, latest, "h1", set()) == {"sms": True, "phone": False}
    assert consent_to_record(asked, latest, "h2", {"phone"}) == {"email": True, "sms": True}


def test_urls_and_tokens() -> None:
    assert tokens.landing_url("https://a.io/p?x=1#f", "T.k") == "https://a.io/p?x=1&ls_t=T.k#f"
    assert tokens.landing_url("https://a.io", "T") == "https://a.io?ls_t=T"
    assert tokens.without_identify_parameter("https://a.io/?a=%20b&ls_t=T&c=d") == (
        "https://a.io/?a=%20b&c=d"
    )
    for bad in (
        "javascript:alert(1)",
        "/relative",
        "https://a.io/ x",
        "https://u:p@a.io/",
        "https://a.io/?ls_t=1",
        "ftp://a.io/",
        "https://" + "a" * 2000,
    ):
        with pytest.raises(InvalidInputError):
            tokens.check_link_url(bad)
    assert tokens.check_base_url("https://t.example.com/") == "https://t.example.com"
    secret, now = b"s" * 32, datetime.now(UTC)
    assert tokens.read_open(secret, tokens.open_token(secret, 7, "c")) == (7, "c")
    assert tokens.read_open(secret, tokens.open_token(secret, True, "c")) is None  # type: ignore[arg-type]
    claim = tokens.read_click(secret, tokens.click_token(secret, 3, 7, "c"))
    assert claim == tokens.ClickClaim(3, 7, "c")
    assert tokens.read_identify(secret, tokens.identify_token(secret, 7, now), now) == 7
    later = now + tokens.IDENTIFY_VALIDITY + timedelta(seconds=1)
    assert tokens.read_identify(secret, tokens.identify_token(secret, 7, now), later) is None
