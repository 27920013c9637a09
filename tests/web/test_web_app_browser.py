"""Acceptance: the web application in real Chromium, as its users work with it.

An admin signs in, imports a file through the upload page, filters contacts and watches the
live count, edits the playbook, dry-runs and applies it, and opens a contact to read why it
moved; an agent signs in, takes the next call and logs a sale; the dashboard then counts the
new customer. `LEADSIFT_SCREENSHOTS=DIR` saves a picture of each page (scripts/screenshots.py
uses it for the README).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from leadsift.access import service as access
from leadsift.access import sessions
from leadsift.access.schemas import Role
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.qualification import playbooks
from tests.web.servers import serve_asgi

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

PASSWORD = "a browser password 7"  # noqa: S105 — the test users' password
DATA = Path(__file__).parent / "data"
FIRST_PLAYBOOK = """name: Solar panels — Rhône
eligibility: city in ("Lyon", "Villeurbanne")
qualify: fit >= 30
fit:
  - {when: 'city = "Lyon"', points: 20, label: Lives in Lyon}
assignment:
  default: {user: ines}
"""


@pytest.fixture
def workspace(committed_db_url: str) -> Iterator[Database]:
    """A workspace with an admin (root), an agent (ines) and a first playbook."""
    database = Database(committed_db_url, Settings(database_url=committed_db_url)).ready()
    with database.unit_of_work() as session:
        access.add_user(session, "root", Role.ADMIN)
        access.add_user(session, "ines", Role.AGENT)
        for name in ("root", "ines"):
            sessions.set_password(session, name, PASSWORD, None)
        loaded = playbooks.load(session, FIRST_PLAYBOOK, "solar.yaml")
        playbooks.store_version(session, loaded, FIRST_PLAYBOOK, "solar.yaml")
    try:
        yield database
    finally:
        database.dispose()


def _shot(page: Page, name: str) -> None:
    folder = os.environ.get("LEADSIFT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _sign_in(page: Page, app: str, name: str) -> None:
    page.goto(f"{app}/dashboard")
    assert "/sign-in" in page.url
    page.get_by_label(re.compile("Name|Identifiant")).fill(name)
    page.get_by_label(re.compile("Password|Mot de passe")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|Se connecter")).click()
    page.wait_for_url(f"{app}/dashboard")


def _import(page: Page, app: str) -> None:
    page.goto(f"{app}/import")
    _shot(page, "import-upload")
    page.set_input_files("#file", str(DATA / "solar-leads.csv"))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(r"/import/[\w-]+$"))
    # The proposed mapping: the file's columns, matched to contact fields.
    page.get_by_text("E-mail address").first.wait_for()
    _shot(page, "import-mapping")
    page.get_by_role("button", name="Import the file").click()
    progress = page.locator("#progress")
    progress.get_by_text("Import finished").wait_for()
    # 12 rows: 11 inserted, the one with a broken address rejected (and downloadable).
    assert re.search(r"\b11\s+Inserted", progress.inner_text()), progress.inner_text()
    assert re.search(r"\b1\s+Rejected", progress.inner_text()), progress.inner_text()
    _shot(page, "import-done")


def _calling_moment(after: datetime) -> datetime:
    """10:05 in Paris on the next working day after AFTER that is no French public holiday."""
    import holidays

    paris = ZoneInfo("Europe/Paris")
    day = after.astimezone(paris).date() + timedelta(days=1)
    closed = holidays.country_holidays("FR", years=range(day.year, day.year + 2))
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return datetime.combine(day, time(10, 5), tzinfo=paris).astimezone(UTC)


def _filter_contacts(page: Page, app: str) -> None:
    page.goto(f"{app}/contacts")
    page.locator("#q").fill('city = "Lyon"')
    page.locator("#live-count").get_by_text("6 matching contacts").wait_for()
    page.locator("#q").fill('city = "Lyon" and')
    page.locator("#live-count").get_by_role("alert").wait_for()
    page.locator("#q").fill('city = "Lyon"')
    page.locator("#live-count").get_by_text("6 matching contacts").wait_for()
    page.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_url(re.compile(r"/contacts\?q="))
    rows = page.locator("section[aria-labelledby='list-title'] tbody tr")
    assert rows.count() == 6, rows.all_inner_texts()
    _shot(page, "contacts")


def _edit_playbook(page: Page, app: str) -> None:
    page.goto(f"{app}/playbook")
    editor = page.locator("#playbook")
    editor.wait_for()
    assert "Lives in Lyon" in editor.input_value()
    # A typo is caught as you type, with where it is.
    editor.fill(editor.input_value().replace("qualify: fit >= 30", "qualify: fit >>= 30"))
    problem = page.locator("#check tr.problem").first
    problem.wait_for()
    assert problem.locator("td").first.inner_text() == "3", problem.inner_text()
    # Lyon is worth 40 points now: enough to qualify.
    text = FIRST_PLAYBOOK.replace("points: 20", "points: 40")
    editor.fill(text)
    page.locator("#check").get_by_text("Valid playbook").wait_for()
    page.get_by_role("button", name="Dry run").click()
    page.locator("#result").get_by_text(re.compile("qualified", re.I)).first.wait_for()
    _shot(page, "playbook-dry-run")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Apply").click()
    page.locator("#result").get_by_text(re.compile("applied|version 2", re.I)).first.wait_for()


def _read_explanation(page: Page, app: str, contact_id: int) -> None:
    page.goto(f"{app}/contacts/{contact_id}")
    history = page.locator("section[aria-labelledby='history-title']")
    # The latest move, open: the playbook's policy qualified the lead on its fit.
    history.get_by_text("fit >= 30").first.wait_for()
    assert "interest_threshold" in history.inner_text()
    # The move before it, one click away: which fit rule earned the points.
    history.locator("details").nth(1).locator("summary").click()
    history.get_by_text("Lives in Lyon").first.wait_for()
    _shot(page, "contact")


def _take_call_and_sell(page: Page, app: str) -> str:
    page.goto(f"{app}/calls")
    _shot(page, "console-queue")
    page.keyboard.press("n")  # the console's shortcut for "Next call"
    card = page.locator("#call")
    card.get_by_role("button", name=re.compile("^Sale")).wait_for()
    name = card.locator("h2").first.inner_text()
    _shot(page, "console-call")
    card.locator("#amount").fill("1 250,50")
    card.get_by_role("button", name=re.compile("^Sale")).click()
    card.get_by_text("Call logged").wait_for()
    assert "customer" in card.inner_text()
    return name


def test_a_working_day_in_the_web_app(
    browser_context: BrowserContext,
    chromium_browser: object,
    workspace: Database,
    committed_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = _calling_moment(datetime.now(UTC))
    monkeypatch.setattr("leadsift.agents.views.utcnow", lambda: moment)
    app = create_app(Settings(database_url=committed_db_url))
    with serve_asgi(app) as url:
        admin = browser_context.new_page()
        _sign_in(admin, url, "root")
        _import(admin, url)
        _filter_contacts(admin, url)
        _edit_playbook(admin, url)
        with workspace.unit_of_work(read_only=True) as session:
            camille = session.scalar(
                select(Contact.id).where(Contact.email == "camille.martin@example.com")
            )
            qualified = session.scalar(
                select(func.count()).select_from(Contact).where(Contact.stage == "qualified")
            )
        assert qualified == 6
        assert camille is not None
        _read_explanation(admin, url, camille)

        agent_context = chromium_browser.new_context(locale="en-GB")  # type: ignore[attr-defined]
        try:
            agent = agent_context.new_page()
            _sign_in(agent, url, "ines")
            sold_to = _take_call_and_sell(agent, url)
        finally:
            agent_context.close()

        with workspace.unit_of_work(read_only=True) as session:
            customers = session.scalars(select(Contact).where(Contact.stage == "customer")).all()
        assert len(customers) == 1
        assert f"{customers[0].first_name} {customers[0].last_name}" == sold_to

        admin.goto(f"{url}/dashboard")
        funnel = admin.locator("#funnel")
        customers_row = funnel.locator(
            "tr", has=admin.locator("th", has_text=re.compile("^customers?$", re.I))
        )
        customers_row.wait_for()
        assert customers_row.locator("td").first.inner_text() == "1", customers_row.inner_text()
        _shot(admin, "dashboard")
