"""The report pages: the index, each report with its filters, the CSV download (the same bytes
as `leadsift report NAME --format csv`), refusals of bad filters, who may see them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from leadsift.access.schemas import Role
from leadsift.analytics import funnel, rollups
from leadsift.analytics.catalogue_views import REPORTS
from leadsift.analytics.display_views import FRESH_FOR, read_fresh
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from tests.cli.helpers import run
from tests.pages.test_dashboard_pages import seed


@pytest.fixture
def admin(pages: TestClient, sign_in: Callable[..., str], committed_db: Database) -> TestClient:
    """An admin's browser, in English, on the seeded workspace."""
    seed(committed_db)
    sign_in(pages, "alice", Role.ADMIN)
    pages.cookies.set("leadsift_lang", "en")
    return pages


FROM = "2020-01-01"


def _cli_csv(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> str:
    result = run(capsys, "--db", url, "report", *args, "--format", "csv")
    assert result.code == 0, result.err
    return result.out


def _until() -> str:
    return (utcnow().date().replace(year=utcnow().year + 1)).isoformat()


# (report, its filters on the page, the same on the command line)
SAME_AS_CLI = [
    ("funnel", {}, []),
    ("funnel", {"by": "source"}, ["--by", "source"]),
    ("funnel", {"by": "cohort_week"}, ["--by", "cohort_week"]),
    ("roi", {"by": "channel"}, ["--by", "channel"]),
    ("stage-times", {}, []),
    ("reasons", {}, []),
    ("sources", {}, []),
    ("attribution", {}, []),
]


def test_the_csv_download_is_what_the_command_line_writes(
    admin: TestClient, capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    until = _until()
    dates = {"from": FROM, "to": until}
    for name, query, cli in SAME_AS_CLI:
        answer = admin.get(f"/reports/{name}.csv", params={**query, **dates})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == (
            f'attachment; filename="leadsift-{name}-{FROM}-{until}.csv"'
        )
        expected = _cli_csv(capsys, db_url, name, *cli, "--from", FROM, "--to", until)
        assert answer.text.rstrip("\n") == expected.rstrip("\n"), (name, query)
        assert len(answer.text.splitlines()) > 1, name  # a header and rows: the data is there
    # Interest without purchase takes no period: its own options only.
    answer = admin.get("/reports/interest-no-purchase.csv", params={"threshold": "0", "limit": 5})
    expected = _cli_csv(capsys, db_url, "interest-no-purchase", "--threshold", "0", "--limit", "5")
    assert answer.text.rstrip("\n") == expected.rstrip("\n")


def test_the_funnel_page_shows_the_table_chart_and_csv_link(admin: TestClient) -> None:
    until = _until()
    page = admin.get("/reports/funnel", params={"from": FROM, "to": until})
    assert page.status_code == 200, page.text
    html = page.text
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    # contacts 7 → leads 6 (85.7 %) → qualified 4 (66.7 %) → customers 2 (50.0 %).
    assert cells[:8] == ["contacts", "7", "—", "100.0%", "leads", "6", "85.7%", "85.7%"]
    assert cells[8:16] == ["qualified", "4", "66.7%", "57.1%", "customers", "2", "50.0%", "28.6%"]
    assert "<canvas data-chart=" in html and "/static/vendor/chart.umd.min.js" in html
    assert f'href="/reports/funnel.csv?from={FROM}&amp;to={until}"' in html
    assert f'value="{FROM}"' in html  # the form keeps what was chosen
    by_source = admin.get("/reports/funnel", params={"by": "source", "from": FROM, "to": until})
    assert '<option value="source" selected>' in by_source.text
    rows = re.findall(r"<tr>\s*<td>(salon|web)</td>\s*<td class=\"num\">(\d+)</td>", by_source.text)
    assert rows == [("salon", "3"), ("web", "4")]


def test_every_report_renders_and_downloads(admin: TestClient) -> None:
    needs = {"lift": {"campaign": "autumn"}}
    for report in REPORTS:
        page = admin.get(f"/reports/{report.name}", params=needs.get(report.name, {}))
        assert page.status_code == 200, (report.name, page.text)
        assert "Download CSV" in page.text, report.name
        csv = admin.get(f"/reports/{report.name}.csv", params=needs.get(report.name, {}))
        assert csv.status_code == 200, (report.name, csv.text)
        assert csv.headers["content-type"].startswith("text/csv"), report.name
    campaigns = admin.get("/reports/campaigns.csv")
    assert (
        campaigns.headers["content-disposition"] == 'attachment; filename="leadsift-campaigns.csv"'
    )
    assert campaigns.text.splitlines()[1].startswith("autumn,1,")  # sent 1
    waiting = admin.get("/reports/waiting").text
    assert re.search(r'<a href="/contacts/\d+">', waiting)  # contacts link to their page
    speed = admin.get("/reports/speed", params={"from": FROM}).text
    assert re.findall(r"<td>(ann|bob|total)</td>", speed) == ["bob", "ann", "total"]
    assert "1 h 15 min" in speed


BAD_FILTERS = [
    ("/reports/funnel", {"from": "yesterday"}, "Give a date such as 2026-11-01."),
    ("/reports/funnel.csv", {"from": "2026-13-01"}, "Give a date such as 2026-11-01."),
    ("/reports/funnel", {"by": "moon"}, "Choose one of all, cohort_week"),
    ("/reports/funnel", {"from": "2026-11-01", "to": "2026-10-01"}, "“From” must be before"),
    ("/reports/roi", {"from": "2999-01-01"}, "is empty"),
    ("/reports/lift", {"campaign": "nope"}, "no campaign &#39;nope&#39;"),
    ("/reports/lift", {"campaign": "autumn", "window": "soon"}, "Give a duration such as 14d"),
    ("/reports/lift", {"campaign": "autumn", "by": "moon"}, "Split by source, region"),
    ("/reports/lift", {"window": "14d"}, "Campaign is required."),
    ("/reports/interest-no-purchase", {"limit": "0"}, "from 1 to 10000"),
    ("/reports/interest-no-purchase", {"threshold": "nan"}, "Give a number"),
    ("/reports/attribution", {"contact": "-3"}, "Give a whole number"),
    ("/reports/speed", {"sla": "soon"}, "Give a duration such as 14d"),
    ("/reports/speed", {"sla": "9" * 5000 + "d"}, "At most 200 characters."),
    ("/reports/funnel", {"to": "9" * 300}, "At most 200 characters."),
]


def test_bad_filters_show_the_form_again_with_a_message(admin: TestClient) -> None:
    for url, params, message in BAD_FILTERS:
        answer = admin.get(url, params=params)
        assert answer.status_code == 400, (url, params, answer.text)
        assert "text/html" in answer.headers["content-type"]
        assert message in answer.text, (url, params)
        assert '<form method="get"' in answer.text and 'role="alert"' in answer.text
        assert "Download CSV" not in answer.text
    wrong = admin.get("/reports/funnel", params={"from": "yesterday"}).text
    assert 'id="f-from" name="from" value="yesterday"' in wrong and 'aria-invalid="true"' in wrong


def test_the_lift_form_comes_first_without_a_campaign(admin: TestClient) -> None:
    page = admin.get("/reports/lift")
    assert page.status_code == 200
    assert "Choose the filters, then show the report." in page.text
    assert 'name="campaign"' in page.text and "required" in page.text


def test_only_admins_and_managers_see_the_reports(
    make_pages: Callable[..., TestClient], sign_in: Callable[..., str], committed_db: Database
) -> None:
    seed(committed_db)
    agent, manager = make_pages(), make_pages()
    sign_in(agent, "ann")
    sign_in(manager, "maud", Role.MANAGER)
    for url in ("/reports", "/reports/funnel", "/reports/funnel.csv"):
        assert agent.get(url).status_code == 403, url
        assert manager.get(url).status_code == 200, url
    assert 'href="/reports"' not in agent.get("/dashboard").text
    assert manager.get("/reports/moon").status_code == 404
    assert manager.get("/reports/moon.csv").status_code == 404


def test_the_reports_in_french_and_english(admin: TestClient) -> None:
    index = admin.get("/reports").text
    for report in REPORTS:
        assert f'href="/reports/{report.name}"' in index
    assert "Interest but no purchase" in index
    admin.cookies.set("leadsift_lang", "fr")
    french = admin.get("/reports").text
    assert 'lang="fr"' in french and "Intérêt sans achat" in french
    page = admin.get("/reports/funnel", params={"from": FROM, "to": _until()}).text
    assert "Entonnoir" in page and "Télécharger le CSV" in page and "Répartir par" in page
    assert "85,7\u00a0%" in page and "conversion de l&#39;étape" in page
    refused = admin.get("/reports/funnel", params={"from": "hier"})
    assert refused.status_code == 400
    assert "Donnez une date, par exemple 2026-11-01." in refused.text


def _contacts_entered(database: Database, now: datetime) -> int:
    """Contacts the funnel counts over the last year, read as a page reads the reports."""
    since, until = now - timedelta(days=365), now + timedelta(days=1)
    count = read_fresh(
        database, now, (rollups.refresh,),
        lambda s: funnel.counts_by(s, by="all", since=since, until=until, now=now),
    )  # fmt: skip
    return count["all"]["contacts"] if count else 0


def test_pages_read_the_rollups_as_they_are_while_the_worker_keeps_them_fresh(
    committed_db: Database,
) -> None:
    seed(committed_db)
    now = utcnow()
    assert _contacts_entered(committed_db, now) == 7  # no pass yet: brought up to date first
    with committed_db.unit_of_work() as session:
        session.add(Contact(email="new@exemple.fr", attrs={}, created_at=now, updated_at=now))
    # A pass a minute ago (the worker's) is fresh enough: the new contact waits for the next.
    assert _contacts_entered(committed_db, now + timedelta(minutes=1)) == 7
    with committed_db.unit_of_work(read_only=True) as session:
        assert not rollups.refreshed_within(session, rollups.REFRESHED, now + FRESH_FOR, FRESH_FOR)
    # Without a pass for FRESH_FOR (no worker running), the page brings them up to date first.
    assert _contacts_entered(committed_db, now + FRESH_FOR) == 8
    with committed_db.unit_of_work(read_only=True) as session:
        assert rollups.refreshed_within(session, rollups.REFRESHED, now + FRESH_FOR, FRESH_FOR)
