"""Acceptance: real Chromium on a customer's site embedding leadsift's script.

Pages served by the test (http://localhost:PORT, another site) embed `/t/leadsift.js` from the
app (http://127.0.0.1:PORT, uvicorn). The browser visits three pages, then submits a form with
an email and a consent checkbox whose label is the wording; the contact then exists with that
consent and wording, and its timeline shows the three page views, in order, before the form.
A tracked email link, followed in the browser, identifies the visitor on its landing page.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.contacts.models import ConsentRecord, Contact
from leadsift.db import Database
from leadsift.engagement import tracked_links
from leadsift.engagement.models import Event
from leadsift.engagement.service import timeline
from leadsift.kit.clock import utcnow
from tests.web.servers import serve_asgi, serve_pages, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

WORDING = "I agree to receive Example's offers by email; I can unsubscribe at any time."
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script src="{app}/t/leadsift.js" async></script></head>
<body><h1>{title}</h1><nav><a href="/pricing?utm_source=newsletter&amp;utm_campaign=spring">
Pricing</a> <a href="/signup">Sign up</a></nav>{body}</body></html>
"""
FORM = """
<form data-leadsift-form="newsletter" data-leadsift-thanks="Thanks, see you soon!">
  <input name="email" type="email" required>
  <label><input type="checkbox" name="consent_email">
    <span data-leadsift-consent-text>{wording}</span></label>
  <button type="submit">Sign up</button>
  <p data-leadsift-status></p>
</form>
"""
# The visit: the home page by its address, then two links followed (so each has a referrer).
VISIT = ((None, "/"), ("Pricing", "/pricing"), ("Sign up", "/signup"))
THIRTEEN_MONTHS = 395 * 24 * 3600


@pytest.fixture
def reader(committed_db_url: str) -> Iterator[Database]:
    """The test's own connection to the app's database."""
    database = Database(committed_db_url, Settings(database_url=committed_db_url)).ready()
    try:
        yield database
    finally:
        database.dispose()


def _views_of(database: Database, visitor: str) -> int:
    with database.unit_of_work() as session:
        query = select(Event.id).where(Event.anonymous_id == visitor, Event.type == "page_view")
        return len(session.scalars(query).all())


def _contact(database: Database, email: str) -> Contact | None:
    with database.unit_of_work() as session:
        return session.scalars(select(Contact).where(Contact.email == email)).one_or_none()


def test_three_page_views_then_a_form_make_a_contact_with_consent_and_timeline(
    browser_context: BrowserContext, committed_db_url: str, reader: Database
) -> None:
    started = time.monotonic()
    pages: dict[str, str] = {}
    app = create_app(Settings(database_url=committed_db_url))
    with serve_asgi(app) as app_url, serve_pages(pages) as site_url:
        pages["/"] = PAGE.format(title="Home", app=app_url, body="")
        pages["/pricing"] = PAGE.format(title="Pricing", app=app_url, body="")
        pages["/signup"] = PAGE.format(
            title="Sign up", app=app_url, body=FORM.format(wording=WORDING)
        )
        page = browser_context.new_page()
        script_errors: list[str] = []
        page.on("pageerror", lambda error: script_errors.append(str(error)))

        visitor = ""
        for seen, (link, path) in enumerate(VISIT, start=1):
            if link is None:
                page.goto(f"{site_url}{path}")
            else:
                page.click(f"text={link}")
            page.wait_for_url(f"{site_url}{path}*")
            page.wait_for_function("window.__leadsift === true")
            cookies = {c["name"]: c for c in browser_context.cookies(site_url)}
            visitor = visitor or cookies["ls_aid"]["value"]
            assert cookies["ls_aid"]["value"] == visitor  # the same visitor on every page

            def stored(visitor: str = visitor, seen: int = seen) -> bool:
                return _views_of(reader, visitor) == seen

            wait_until(stored, what=f"page view {seen} ({path}) to be stored")

        page.fill("input[name=email]", "Ann.Lee@Example.com")
        page.check("input[name=consent_email]")
        page.click("button[type=submit]")
        page.wait_for_selector("form[data-leadsift-state=sent]")
        assert page.inner_text("[data-leadsift-status]") == "Thanks, see you soon!"

        wait_until(lambda: _contact(reader, "ann.lee@example.com") is not None, what="contact")
        contact = _contact(reader, "ann.lee@example.com")
        assert contact is not None
        assert (contact.stage, contact.source) == ("contact", "web_form")
        with reader.unit_of_work() as session:
            (consent,) = session.scalars(
                select(ConsentRecord).where(ConsentRecord.contact_id == contact.id)
            ).all()
            events = timeline(session, contact.id)

        assert (consent.channel, consent.granted, consent.source) == ("email", True, "web_form")
        assert consent.wording_hash == hashlib.sha256(WORDING.encode()).hexdigest()
        assert consent.ip == "127.0.0.1"
        assert consent.user_agent and "Chrome" in consent.user_agent

        assert [(e.type, e.properties.get("path")) for e in events] == [
            ("page_view", "/"),
            ("page_view", "/pricing"),
            ("page_view", "/signup"),
            ("form_submitted", None),
        ]
        assert [e.properties["title"] for e in events[:3]] == ["Home", "Pricing", "Sign up"]
        assert (events[1].utm_source, events[1].utm_campaign) == ("newsletter", "spring")
        assert [e.properties["referrer"] for e in events[:3]] == [
            "",
            f"{site_url}/",
            f"{site_url}/pricing?utm_source=newsletter&utm_campaign=spring",
        ]
        assert events[3].properties == {"form": "newsletter", "url": f"{site_url}/signup"}
        assert {e.anonymous_id for e in events} == {visitor}

        # The visitor id is the site's first-party cookie, kept at most 13 months (CNIL).
        cookie = {c["name"]: c for c in browser_context.cookies(site_url)}["ls_aid"]
        assert (cookie["domain"], cookie["sameSite"], cookie["httpOnly"]) == (
            "localhost",
            "Lax",
            False,
        )
        assert 0 < cookie["expires"] - time.time() <= THIRTEEN_MONTHS
        assert browser_context.cookies(app_url) == []  # the app sets none of its own
        assert script_errors == []
    assert time.monotonic() - started < 20


def test_a_tracked_email_link_identifies_the_visitor_on_the_landing_page(
    browser_context: BrowserContext, committed_db_url: str, reader: Database
) -> None:
    pages: dict[str, str] = {}
    app = create_app(Settings(database_url=committed_db_url))
    with serve_asgi(app) as app_url, serve_pages(pages) as site_url:
        pages["/offer"] = PAGE.format(title="Offer", app=app_url, body="")
        now = utcnow()
        with reader.unit_of_work() as session:
            contact = Contact(email="ann@example.com", created_at=now, updated_at=now)
            session.add(contact)
            session.flush()
            link, _ = tracked_links.register_link(session, "spring", f"{site_url}/offer?x=1", now)
            click = tracked_links.click_url(session, app_url, link, contact.id)
        page = browser_context.new_page()
        page.goto(click)  # as from the email: the app redirects to the registered page
        page.wait_for_function("window.__leadsift === true")
        # The token is gone from the address bar (not bookmarked, not shared)...
        assert page.url == f"{site_url}/offer?x=1"

        def identified() -> bool:
            with reader.unit_of_work() as session:
                query = select(Event).where(Event.type == "page_view")
                return [e.contact_id for e in session.scalars(query)] == [contact.id]

        # ...and the landing page view is the contact's, with the click before it.
        wait_until(identified, what="the landing page view to be attributed to the contact")
        with reader.unit_of_work() as session:
            events = timeline(session, contact.id)
        assert [(e.type, e.properties["url"]) for e in events] == [
            ("email_clicked", f"{site_url}/offer?x=1"),
            ("page_view", f"{site_url}/offer?x=1"),
        ]
