"""The dashboard: the funnel's counts and rates, the weekly trend, ROI, speed to lead and who
waits beyond the SLA — as an admin sees the workspace and an agent their own contacts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.schemas import Role
from leadsift.agents.models import Touch
from leadsift.agents.repository import set_owner
from leadsift.analytics import costs
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.engagement.service import record_for_contacts
from leadsift.kit.clock import utcnow
from leadsift.qualification.models import StageChange
from tests.pages.conftest import add_user

Move = tuple[str, str, float]
LEAD: Move = ("lead", "criteria_met", 1.0)
# (name, source, entered days before now, [(stage, reason, days after entry)]): the reports
# tests' history, 28 or 29 days ago (before any 4-week period, within speed to lead's 30 days),
# and a prospect qualified three hours ago nobody has called.
HISTORY: list[tuple[str, str, int, list[Move]]] = [
    ("c0", "web", 29, [LEAD, ("qualified", "hand_raiser", 3), ("customer", "purchase", 10)]),
    ("c1", "web", 29, [LEAD, ("qualified", "hand_raiser", 2), ("customer", "won", 4)]),
    ("c2", "web", 28, [LEAD, ("qualified", "interest_threshold", 5), ("lost", "no_budget", 9)]),
    ("c3", "web", 28, [LEAD]),
    ("c4", "salon", 28, [("unqualified", "criteria_not_met", 1)]),
    ("c5", "salon", 28, [("lead", "criteria_met", 2), ("unqualified", "no_interest", 14)]),
    ("waiting", "salon", 2, [LEAD, ("qualified", "hand_raiser", 2 - 3 / 24)]),
]  # fmt: skip


def _contact(session: Session, name: str, source: str, at: datetime, moves: list[Move]) -> int:
    last = at + timedelta(days=moves[-1][2])
    contact = Contact(
        email=f"{name}@exemple.fr", source=source, stage=moves[-1][0], attrs={}, created_at=at,
        updated_at=last, stage_changed_at=last,
    )  # fmt: skip
    session.add(contact)
    session.flush()
    previous = "contact"
    for target, reason, after in moves:
        session.add(
            StageChange(
                contact_id=contact.id, from_stage=previous, to_stage=target, reason=reason,
                actor="test", changed_at=at + timedelta(days=after),
            )
        )  # fmt: skip
        previous = target
    return contact.id


def seed(database: Database, now: datetime | None = None) -> dict[str, int]:
    """The history above, a campaign with a cost and two purchases, two calls, and agents ann
    (owning c0, c1 and the waiting prospect) and bob (owning c2); contact ids by name."""
    now = now or utcnow()
    add_user(database, "ann", Role.AGENT)
    add_user(database, "bob", Role.AGENT)
    with database.unit_of_work() as session:
        ids = {
            name: _contact(session, name, source, now - timedelta(days=days), moves)
            for name, source, days, moves in HISTORY
        }
        t0 = now - timedelta(days=29)
        record_for_contacts(
            session,
            [
                (ids["c0"], {"type": "email_sent", "campaign": "autumn", "occurred_at": t0}),
                (ids["c0"], {"type": "purchase", "campaign": "autumn", "idempotency_key": "p0",
                             "occurred_at": t0 + timedelta(days=10),
                             "properties": {"amount": 300.0}}),
                (ids["c1"], {"type": "purchase", "campaign": "autumn", "idempotency_key": "p1",
                             "occurred_at": t0 + timedelta(days=4),
                             "properties": {"amount": 150.0}}),
            ],
            now=now,
        )  # fmt: skip
        costs.add_cost(session, "autumn", 90.0, spent_on=t0.date(), now=now, source="web")
        users = {u.name: u.id for u in access_repository.users(session)}
        for name, owner in (("c0", "ann"), ("c1", "ann"), ("waiting", "ann"), ("c2", "bob")):
            set_owner(
                session, ids[name],
                {"user_id": users[owner], "team_id": None, "rule": "manual",
                 "assigned_by": "test", "assigned_at": t0},
            )  # fmt: skip
        # First touches after qualifying: 30 minutes (within the SLA of 1 h), then 2 hours.
        for name, qualified_after, minutes in (("c0", 3, 30), ("c1", 2, 120)):
            at = t0 + timedelta(days=qualified_after, minutes=minutes)
            session.add(
                Touch(contact_id=ids[name], user_id=users["ann"], channel="phone",
                      outcome="reached", at=at)
            )  # fmt: skip
    return ids


_SECTION = re.compile(r'hx-get="/dashboard/([a-z]+)\?weeks=(\d+)"')


def dashboard(client: TestClient, weeks: str = "12") -> dict[str, str]:
    """The dashboard's frame ("page") and each section it loads (by name), as htmx loads them."""
    frame = client.get("/dashboard", params={"weeks": weeks})
    assert frame.status_code == 200, frame.text
    found = {"page": frame.text}
    for name, asked in _SECTION.findall(frame.text):
        assert asked == weeks
        answer = client.get(
            f"/dashboard/{name}", params={"weeks": weeks}, headers={"HX-Request": "true"}
        )
        assert answer.status_code == 200, (name, answer.text)
        assert "<html" not in answer.text  # a fragment, not a page
        found[name] = answer.text
    return found


def _row(html: str, stage: str) -> list[str]:
    found = re.search(rf'<tr data-stage="{stage}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no {stage} row"
    return [cell.strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", found.group(1), re.S)]


def test_the_dashboard_shows_the_funnel_with_its_rates(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = seed(committed_db)
    sign_in(pages, "alice", Role.ADMIN)
    pages.cookies.set("leadsift_lang", "en")
    board = dashboard(pages)
    assert set(board) == {"page", "funnel", "speed", "trend", "roi", "waiting"}
    assert (
        "/static/vendor/chart.umd.min.js" in board["page"]
        and "The whole workspace." in board["page"]
    )
    html = board["funnel"]
    # 7 contacts, 6 leads, 4 qualified (3 of the history and the waiting prospect), 2 customers.
    assert _row(html, "contacts") == ["contacts", "7", "—", "100.0%"]  # no step before it
    assert _row(html, "leads") == ["leads", "6", "85.7%", "85.7%"]
    assert _row(html, "qualified") == ["qualified", "4", "66.7%", "57.1%"]
    assert _row(html, "customers") == ["customers", "2", "50.0%", "28.6%"]
    # The chart draws the same counts, in a canvas with a text alternative.
    assert "&#34;data&#34;: [7, 6, 4, 2]" in html and 'role="img"' in html
    # The trend: one row per week, the weeks of entry with their contacts.
    weeks = re.findall(
        r'<tr data-week="([0-9-]+)">\s*<th[^>]*>[^<]*</th>\s*<td[^>]*>(\d+)', board["trend"]
    )
    assert len(weeks) == 12
    assert sum(int(n) for _, n in weeks) == 7
    # ROI: autumn cost 90 and brought 450; the cost names the source web.
    roi = board["roi"]
    top = roi[roi.index('id="top-campaigns"') : roi.index('id="top-sources"')]
    assert "autumn" in top and "90.00 EUR" in top and "450.00 EUR" in top and "400.0%" in top
    sources = roi[roi.index('id="top-sources"') :]
    assert re.search(r"<td>web</td>\s*<td class=\"num\">90.00 EUR</td>", sources)
    assert "400.0%" in sources
    # Speed to lead: 30 min and 2 h after qualifying; 1 of the 4 qualified within the hour.
    speed = board["speed"]
    assert re.search(r'id="speed-median">1 h 15 min<', speed)
    assert re.search(r'id="speed-p90">2 h 00 min<', speed)
    assert re.search(r'id="speed-within">25.0%<', speed)
    # The prospect qualified three hours ago waits, with a link to its page.
    waiting = board["waiting"]
    assert f'href="/contacts/{ids["waiting"]}"' in waiting
    assert f'href="/contacts/{ids["c3"]}"' not in waiting
    assert "3 h 00 min" in waiting and 'href="/reports/waiting"' in waiting


def test_an_agent_sees_their_own_figures_only(
    make_pages: Callable[..., TestClient], sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = seed(committed_db)
    ann, bob = make_pages(), make_pages()
    sign_in(ann, "ann")
    sign_in(bob, "bob")
    ann.cookies.set("leadsift_lang", "en")
    board = dashboard(ann)
    assert set(board) == {"page", "funnel", "speed", "waiting"}  # no team-wide trend nor ROI
    assert "Your contacts only" in board["page"]
    # Ann owns c0 and c1 (customers) and the waiting prospect.
    assert _row(board["funnel"], "contacts")[:2] == ["contacts", "3"]
    assert _row(board["funnel"], "qualified")[1:3] == ["3", "100.0%"]
    assert _row(board["funnel"], "customers")[1:] == ["2", "66.7%", "66.7%"]
    assert re.search(r'id="speed-within">33.3%<', board["speed"])  # c0 within the hour, of 3
    assert f'href="/contacts/{ids["waiting"]}"' in board["waiting"]
    assert 'href="/reports/' not in board["waiting"]
    for team_wide in ("/dashboard/trend", "/dashboard/roi"):
        assert ann.get(team_wide).status_code == 403, team_wide
    bob.cookies.set("leadsift_lang", "en")
    other = dashboard(bob)
    assert _row(other["funnel"], "contacts")[:2] == ["contacts", "1"]
    assert f'href="/contacts/{ids["waiting"]}"' not in other["waiting"]  # not his contact
    assert "Nobody is waiting beyond the SLA." in other["waiting"]


def test_the_dashboard_in_french_and_its_period(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    seed(committed_db)
    sign_in(pages, "alice", Role.MANAGER)
    board = dashboard(pages)  # French by default
    assert 'lang="fr"' in board["page"] and "Tableau de bord" in board["page"]
    assert "Entonnoir" in board["page"] and "Chargement…" in board["page"]
    assert _row(board["funnel"], "leads") == ["leads", "6", "85,7\u00a0%", "85,7\u00a0%"]
    assert "90,00 EUR" in board["roi"] and "400,0\u00a0%" in board["roi"]
    assert "1 h 15 min" in board["speed"] and "Délai médian" in board["speed"]
    pages.cookies.set("leadsift_lang", "en")
    month = dashboard(pages, "4")
    assert len(re.findall(r'<tr data-week="', month["trend"])) == 4
    assert _row(month["funnel"], "contacts")[1] == "1"  # only the waiting prospect, in 4 weeks
    for url in (
        "/dashboard?weeks=7",
        "/dashboard/funnel?weeks=moon",
        "/dashboard?weeks=" + "9" * 5000,
    ):
        refused = pages.get(url)
        assert refused.status_code == 400, url[:30]
        assert "Choose a period of 4, 12, 26 or 52 weeks." in refused.text


def test_an_empty_workspace_shows_undefined_rates_not_zero(
    pages: TestClient, sign_in: Callable[..., str]
) -> None:
    sign_in(pages, "alice", Role.ADMIN)
    pages.cookies.set("leadsift_lang", "en")
    board = dashboard(pages)
    assert _row(board["funnel"], "leads") == ["leads", "0", "—", "—"]
    assert "No prospect qualified in the last 30 days." in board["speed"]
    assert "Nobody is waiting beyond the SLA." in board["waiting"]


def test_a_stranger_is_sent_to_sign_in(pages: TestClient) -> None:
    for url in ("/dashboard", "/dashboard/funnel"):
        answer = pages.get(url)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/sign-in?next={url}"


def test_an_agent_sees_their_waiting_prospect_behind_a_hundred_of_others(
    make_pages: Callable[..., TestClient], sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = seed(committed_db)
    now = utcnow()
    with committed_db.unit_of_work() as session:
        for number in range(101):  # waiting longer than ann's prospect, nobody's
            at = now - timedelta(days=3, minutes=number)
            session.add(
                Contact(email=f"old{number}@exemple.fr", stage="qualified", attrs={},
                        created_at=at, updated_at=at, stage_changed_at=at)
            )  # fmt: skip
    ann = make_pages()
    sign_in(ann, "ann")
    ann.cookies.set("leadsift_lang", "en")
    waiting = dashboard(ann)["waiting"]
    assert f'href="/contacts/{ids["waiting"]}"' in waiting
    assert waiting.count('href="/contacts/') == 1  # hers only, not the others' 101
