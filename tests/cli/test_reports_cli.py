"""Reports through the command line: the funnel (figures and its SQL), ROI with costs, charts,
and bad input (one line, exit 1, nothing recorded)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from matplotlib import image
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadsift.analytics import repository
from leadsift.analytics.models import AttributionCredit, FunnelFact
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.engagement.service import record_for_contacts
from leadsift.qualification.models import StageChange
from tests.cli.helpers import run
from tests.outreach_helpers import cli_json

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # a Monday
# (source, entered days after T0, [(stage, reason, days after entry)])
LEAD = ("lead", "criteria_met", 1)
HISTORY = [
    ("web", 0, [LEAD, ("qualified", "hand_raiser", 3), ("customer", "purchase", 10)]),
    ("web", 0, [LEAD, ("qualified", "hand_raiser", 2), ("customer", "won", 4)]),
    ("web", 1, [LEAD, ("qualified", "interest_threshold", 5), ("lost", "no_budget", 9)]),
    ("web", 8, [LEAD]),
    ("salon", 8, [("unqualified", "criteria_not_met", 1)]),
    ("salon", 9, [("lead", "criteria_met", 2), ("unqualified", "no_interest", 30)]),
]  # fmt: skip


def _seed(url: str) -> list[int]:
    """Contacts with a known stage history (and a purchase for revenue)."""
    database = Database(url).ready()
    ids = []
    with database.unit_of_work() as session:
        for number, (source, entered, moves) in enumerate(HISTORY):
            at = T0 + timedelta(days=entered)
            stage = moves[-1][0]
            contact = Contact(
                email=f"c{number}@exemple.fr", source=source, stage=stage, attrs={},
                created_at=at, updated_at=at,
            )  # fmt: skip
            session.add(contact)
            session.flush()
            ids.append(contact.id)
            previous = "contact"
            for target, reason, after in moves:
                session.add(
                    StageChange(
                        contact_id=contact.id, from_stage=previous, to_stage=target,
                        reason=reason, actor="test", changed_at=at + timedelta(days=after),
                    )
                )  # fmt: skip
                previous = target
        _purchases(session, ids)
    database.dispose()
    return ids


def _purchases(session: Session, ids: list[int]) -> None:
    events = [
        (ids[0], {"type": "email_sent", "campaign": "autumn", "occurred_at": T0}),
        (ids[0], {"type": "page_view", "utm_campaign": "ads", "occurred_at": T0 + timedelta(days=5),
                  "properties": {"path": "/pricing"}}),
        (ids[0], {"type": "purchase", "campaign": "autumn", "occurred_at": T0 + timedelta(days=10),
                  "properties": {"amount": 300.0}, "idempotency_key": "p0"}),
        (ids[1], {"type": "purchase", "campaign": "autumn", "occurred_at": T0 + timedelta(days=4),
                  "properties": {"amount": 150.0}, "idempotency_key": "p1"}),
    ]  # fmt: skip
    record_for_contacts(session, events, now=T0 + timedelta(days=40))


@pytest.fixture
def db(committed_db_url: str) -> list[str]:
    _seed(committed_db_url)
    return ["--db", committed_db_url, "--json"]


PERIOD = ["--from", "2026-10-01", "--to", "2026-11-01"]


def test_the_funnel_has_step_and_overall_rates_and_times(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    report = cli_json(capsys, *db, "report", "funnel", *PERIOD)
    rows = {row["stage"]: row for row in report["rows"]}
    assert [row["stage"] for row in report["rows"]] == [
        "contacts",
        "leads",
        "qualified",
        "customers",
    ]
    assert {s: r["count"] for s, r in rows.items()} == {
        "contacts": 6, "leads": 5, "qualified": 3, "customers": 2,
    }  # fmt: skip
    assert rows["contacts"]["rate"] is None  # no step before the first: undefined, not 0
    assert rows["leads"]["rate"] == pytest.approx(5 / 6)
    assert rows["qualified"]["rate"] == pytest.approx(3 / 5)
    assert rows["customers"]["rate"] == pytest.approx(2 / 3)
    assert rows["customers"]["overall"] == pytest.approx(2 / 6)
    # Converted after 10 and 4 days: median 7, p90 (nearest rank) 10.
    assert any("median 7.0 days, p90 10.0 days" in note for note in report["notes"])
    stages = cli_json(capsys, *db, "report", "stage-times", *PERIOD)["rows"]
    assert [(r["step"], r["contacts"], r["median_days"], r["p90_days"]) for r in stages] == [
        ("entered → lead", 5, 1.0, 2.0),
        ("lead → qualified", 3, 2.0, 4.0),
        ("qualified → customer", 2, 2.0, 7.0),
    ]


def test_the_funnel_by_source_and_by_cohort_week(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    by_source = cli_json(capsys, *db, "report", "funnel", "--by", "source", *PERIOD)
    rows = {row["group"]: row for row in by_source["rows"]}
    assert (rows["web"]["contacts"], rows["web"]["customers"], rows["web"]["lost"]) == (4, 2, 1)
    assert (rows["salon"]["leads"], rows["salon"]["unqualified"]) == (1, 2)
    assert rows["salon"]["customer_rate"] is None  # nobody qualified: undefined, never 0
    assert rows["salon"]["days_to_convert_median"] is None
    by_week = cli_json(capsys, *db, "report", "funnel", "--by", "cohort_week", *PERIOD)
    assert [(r["group"], r["contacts"]) for r in by_week["rows"]] == [
        ("2026-10-05", 3), ("2026-10-12", 3),
    ]  # fmt: skip
    reasons = cli_json(capsys, *db, "report", "reasons", *PERIOD)["rows"]
    assert {(r["stage"], r["reason"]): r["contacts"] for r in reasons} == {
        ("unqualified", "criteria_not_met"): 1, ("unqualified", "no_interest"): 1,
        ("lost", "no_budget"): 1,
    }  # fmt: skip


def test_a_period_without_contacts_says_no_data(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    empty = cli_json(capsys, *db, "report", "funnel", "--from", "2025-01-01", "--to", "2025-02-01")
    assert [r["count"] for r in empty["rows"]] == [0, 0, 0, 0]
    assert all(r["rate"] is None for r in empty["rows"][1:])


def test_roi_from_costs_and_purchases(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    cli_json(capsys, *db, "cost", "add", "--campaign", "autumn", "--amount", "90", "--date",
             "2026-10-01", "--channel", "email")  # fmt: skip
    costs = tmp_path / "costs.csv"
    costs.write_text("date,campaign,amount\n2026-10-08,autumn,60\n", encoding="utf-8")
    first = cli_json(capsys, *db, "cost", "import", str(costs))
    again = cli_json(capsys, *db, "cost", "import", str(costs))
    assert (first["added"], again["added"], again["already_imported"]) == (1, 0, 1)
    report = cli_json(capsys, *db, "report", "roi")
    [autumn] = [row for row in report["rows"] if row["campaign"] == "autumn"]
    assert (autumn["cost"], autumn["revenue"], autumn["conversions"]) == (150.0, 450.0, 2)
    assert autumn["roi"] == pytest.approx((450 - 150) / 150)
    assert autumn["roas"] == pytest.approx(3.0)
    # Both buyers' first campaign is autumn (a message, or the purchase that names it).
    assert autumn["customers"] == 2 and autumn["cost_per_customer"] == pytest.approx(75.0)
    by_channel = cli_json(capsys, *db, "report", "roi", "--by", "channel")["rows"]
    email = next(row for row in by_channel if row["channel"] == "email")
    # Contact 0 came by email (90 spent on email) and bought for 300.
    assert (email["cost"], email["customers"], email["revenue"]) == (90.0, 1, 300.0)
    assert email["roi"] == pytest.approx((300 - 90) / 90)
    october = cli_json(capsys, *db, "report", "roi", "--from", "2026-10-02", "--to", "2026-11-01")
    [autumn] = [row for row in october["rows"] if row["campaign"] == "autumn"]
    assert autumn["cost"] == 60.0  # the 90 of 1 October is outside the period
    by_source = cli_json(capsys, *db, "report", "roi", "--by", "source")["rows"]
    assert {r["source"]: (r["cost"], r["revenue"]) for r in by_source} == {
        "web": (0.0, 450.0), "salon": (0.0, 0.0), "(none)": (150.0, 0.0),  # costs naming no source
    }  # fmt: skip


def test_attribution_models_side_by_side_and_per_contact(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    report = cli_json(capsys, *db, "report", "attribution", *PERIOD)
    rows = {row["key"]: row for row in report["rows"]}
    autumn, ads, none = rows["campaign:autumn"], rows["utm:ads"], rows["(none)"]
    # Contact 0: autumn's email, then an ads visit, then a 300 purchase; contact 1 bought with
    # no touch before (150).
    assert (autumn["first_touch_conversions"], ads["first_touch_conversions"]) == (1.0, 0.0)
    assert (autumn["last_touch_conversions"], ads["last_touch_conversions"]) == (0.0, 1.0)
    assert autumn["linear_revenue"] == pytest.approx(150.0)
    assert autumn["position_based_conversions"] == pytest.approx(0.5)
    decay = 2 ** (-10 / 7) / (2 ** (-10 / 7) + 2 ** (-5 / 7))
    assert autumn["time_decay_conversions"] == pytest.approx(decay)
    assert none["linear_conversions"] == 1.0 and none["linear_revenue"] == 150.0
    for model in ("first_touch", "last_touch", "linear", "position_based", "time_decay"):
        total = sum(row[f"{model}_conversions"] for row in report["rows"])
        assert total == pytest.approx(2.0)
    first = cli_json(capsys, *db, "contacts", "show", "c0@exemple.fr")["id"]
    mine = cli_json(capsys, *db, "report", "attribution", "--contact", str(first))["rows"]
    linear = {r["key"]: r["credit"] for r in mine if r["model"] == "linear"}
    assert linear == {"campaign:autumn": 0.5, "utm:ads": 0.5}


def test_campaigns_sources_agents_and_interest_without_purchase(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    [autumn] = cli_json(capsys, *db, "report", "campaigns")["rows"]
    assert (autumn["campaign"], autumn["sent"], autumn["purchases"]) == ("autumn", 1, 2)
    assert autumn["revenue"] == 450.0 and autumn["open_rate"] == 0.0
    sources = {r["group"]: r for r in cli_json(capsys, *db, "report", "sources", *PERIOD)["rows"]}
    assert sources["web"]["customers"] == 2 and sources["web"]["cost_per_lead"] is None
    agents = cli_json(capsys, *db, "report", "agents", *PERIOD)
    assert agents["rows"] == [] and agents["notes"] == [
        "no prospect assigned in this period: no data"
    ]
    interest = cli_json(capsys, *db, "report", "interest-no-purchase", "--threshold", "5")
    assert interest["rows"] == [] and "nobody" in interest["notes"][0]


def test_the_png_chart_shows_the_funnel(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    chart = tmp_path / "funnel.png"
    result = run(
        capsys, *db[:2], "report", "funnel", *PERIOD, "--format", "png", "--out", str(chart)
    )
    assert result.code == 0, result.err
    pixels = image.imread(str(chart))
    assert pixels.shape[:2] == (450, 800)
    html = tmp_path / "funnel.html"
    run(capsys, *db[:2], "report", "funnel", *PERIOD, "--format", "html", "--out", str(html))
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and "customers" in page and "https://" not in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "funnel", "--by", "moon"], "--by 'moon': the funnel is split by one of"),
        (["report", "funnel", "--from", "2026-11-01", "--to", "2026-10-01"], "is empty"),
        (["report", "funnel", "--from", "yesterday"], "give a date such as"),
        (["report", "funnel", "--format", "pdf"], "--format 'pdf'"),
        (["report", "funnel", "--format", "png"], "needs --out"),
        (["cost", "add", "--campaign", "nope", "--amount", "10"], "no campaign 'nope'"),
        (["cost", "add", "--campaign", "autumn", "--amount", "-5"], "at least 0.01"),
        (["cost", "add", "--campaign", "autumn", "--amount", "0.004"], "at least 0.01"),
        (["cost", "add", "--campaign", "autum", "--amount", "5"], "did you mean 'autumn'"),
        (["report", "lift", "--campaign", "nope"], "no campaign 'nope'"),
        (["report", "lift", "--campaign", "autumn", "--window", "soon"], "--window 'soon'"),
        (["report", "lift", "--campaign", "autumn", "--by", "moon"], "--by 'moon': lift is split"),
        (["report", "roi", "--by", "moon"], "--by 'moon': ROI is split by one of"),
        (["report", "stage-times", "--from", "2026-11-01", "--to", "2026-10-01"], "is empty"),
        (["report", "attribution", "--to", "soon"], "give a date such as"),
        (["cost", "import", "/nonexistent/costs.csv"], "cannot read"),
    ],
)
def test_bad_input_gets_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], db: list[str], args: list[str], message: str
) -> None:
    result = run(capsys, *db[:2], *args)
    assert result.code == 1, result.out
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert cli_json(capsys, *db, "cost", "list")["costs"] == []


def test_a_cost_file_without_its_columns_is_refused(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    costs = tmp_path / "costs.csv"
    costs.write_text("when,what,price\n2026-10-08,autumn,60\n", encoding="utf-8")
    result = run(capsys, *db[:2], "cost", "import", str(costs))
    assert result.code == 1 and "missing column(s) date, campaign, amount" in result.err
    assert cli_json(capsys, *db, "cost", "list")["costs"] == []


def test_a_cost_file_with_a_bad_row_is_refused_whole(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    costs = tmp_path / "costs.csv"
    costs.write_text(
        "date,campaign,amount\n2026-10-08,autumn,60\n2026-13-01,autumn,5\n2026-10-09,zzz,-1\n",
        encoding="utf-8",
    )
    result = run(capsys, *db[:2], "cost", "import", str(costs))
    assert result.code == 1
    assert "row 3, column date" in result.err and "row 4, column amount" in result.err
    assert cli_json(capsys, *db, "cost", "list")["costs"] == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("by", ["all", "source", "cohort_week", "agent"])
def test_the_funnel_sql_matches_its_snapshot(dialect: str, by: str) -> None:
    query = repository.funnel_query(by, T0, T0 + timedelta(days=30))
    engine = sqlite.dialect() if dialect == "sqlite" else postgresql.dialect()
    text = str(query.compile(dialect=engine, compile_kwargs={"literal_binds": True})) + "\n"
    path = SNAPSHOTS / f"funnel_{by}.{dialect}.sql"
    if os.environ.get("LEADSIFT_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, (
        f"the funnel SQL changed; review it and run with LEADSIFT_UPDATE_SNAPSHOTS=1 ({path})"
    )


def test_json_output_is_one_document(capsys: pytest.CaptureFixture[str], db: list[str]) -> None:
    result = run(capsys, *db, "report", "funnel", "--by", "source", *PERIOD)
    assert json.loads(result.out)["title"] == "Funnel by source"


def test_the_worker_keeps_the_rollups_up_to_date(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    database = Database(db[1]).ready()
    with database.unit_of_work() as session:
        before = session.scalar(select(func.count()).select_from(FunnelFact))
    result = run(capsys, *db, "worker", "--once")
    assert result.code == 0, result.err
    with database.unit_of_work() as session:
        facts = session.scalar(select(func.count()).select_from(FunnelFact))
        credited = session.scalar(select(func.count()).select_from(AttributionCredit))
    database.dispose()
    assert (before, facts) == (0, len(HISTORY))
    assert credited and credited > 0  # the two purchases, under each model


def test_refreshes_at_the_same_moment_count_each_event_once(db: list[str]) -> None:
    """Dashboard sections load together: their refreshes must not both take the same events
    (on PostgreSQL an advisory lock makes the second wait; SQLite serialises writers)."""
    import threading

    from leadsift.analytics import rollups
    from leadsift.analytics.models import EventDay
    from leadsift.kit.clock import utcnow

    database = Database(db[1]).ready()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def refresh() -> None:
        try:
            start.wait(timeout=10)
            with database.unit_of_work() as session:
                rollups.refresh(session, utcnow() + timedelta(hours=1))
        except BaseException as error:  # reported by the test below
            failures.append(error)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with database.unit_of_work() as session:
        counted = session.scalar(select(func.sum(EventDay.events)))
    database.dispose()
    # SQLite may refuse the second writer outright (busy): never a double count.
    assert all("locked" in str(f) or "busy" in str(f).lower() for f in failures), failures
    assert counted == 4  # the four events of _purchases, once each
