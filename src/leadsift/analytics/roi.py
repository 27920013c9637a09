"""Return on investment per campaign: what it cost, what it brought (leads, qualified prospects,
customers, revenue), cost per step, ROI = (revenue − cost) / cost and return on ad spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from leadsift.analytics import cost_repository as sql
from leadsift.analytics import funnel_days, rollups
from leadsift.analytics import purchase_repository as purchases
from leadsift.analytics.funnel import check_period, rate
from leadsift.analytics.naming import natural_key
from leadsift.analytics.rendering import ChartSpec, Column, Report
from leadsift.analytics.rollup_repository import cursor
from leadsift.errors import InvalidInputError

_COLUMNS: Final = (
    Column("campaign", "campaign", "text"),
    Column("cost", "cost", "money"),
    Column("sends", "messages sent", "count"),
    Column("leads", "leads", "count"),
    Column("qualified", "qualified", "count"),
    Column("customers", "customers", "count"),
    Column("conversions", "purchases", "count"),
    Column("revenue", "revenue", "money"),
    Column("cost_per_lead", "cost / lead", "money"),
    Column("cost_per_qualified", "cost / qualified", "money"),
    Column("cost_per_customer", "cost / customer", "money"),
    Column("roi", "ROI", "rate"),
    Column("roas", "return on ad spend", "number"),
)


DIMENSIONS: Final = ("campaign", "channel", "source")


def _row(
    name: str, cost: float, sends: int | None, figures: tuple[int, ...], revenue: float
) -> dict[str, object]:
    _, leads, qualified, customers, conversions = figures
    return {
        "campaign": name, "cost": cost, "sends": sends, "leads": leads, "qualified": qualified,
        "customers": customers, "conversions": conversions, "revenue": revenue,
        "cost_per_lead": rate(cost, leads), "cost_per_qualified": rate(cost, qualified),
        "cost_per_customer": rate(cost, customers), "roi": rate(revenue - cost, cost),
        "roas": rate(revenue, cost),
    }  # fmt: skip


def _by_campaign(session: Session, since: datetime, until: datetime) -> list[dict[str, object]]:
    costs = sql.cost_by(session, "campaign", since.date(), until.date())
    revenue = sql.revenue_by_campaign(session, since, until)
    sends = sql.sends_by_campaign(session, since, until)
    funnel = _funnel_by(session, "touch", since, until)
    names = sorted(
        set(costs) | set(revenue) | {n for n in funnel if n != "(none)"}, key=natural_key
    )
    rows = []
    for name in names:
        conversions, earned = revenue.get(name, (0, 0.0))
        counts = funnel.get(name, (0, 0, 0, 0))
        figures = (*counts, conversions)
        rows.append(_row(name, costs.get(name, 0.0), sends.get(name, 0), figures, earned))
    return rows


def _by_other(
    session: Session, by: str, since: datetime, until: datetime
) -> list[dict[str, object]]:
    costs = sql.cost_by(session, by, since.date(), until.date())
    funnel = _funnel_by(session, by, since, until)
    bought = _purchases_by(session, by, since, until)
    rows = []
    for name in sorted(set(costs) | set(funnel) | set(bought), key=natural_key):
        conversions, earned = bought.get(name, (0, 0.0))
        figures = (*funnel.get(name, (0, 0, 0, 0)), conversions)
        rows.append(_row(name, costs.get(name, 0.0), None, figures, earned))
    return rows


def _purchases_by(
    session: Session, by: str, since: datetime, until: datetime
) -> dict[str, tuple[int, float]]:
    """(purchases, revenue) in [SINCE, UNTIL) per buyer's source or first-touch channel: whole
    days from the purchase days, partial days and what is past their cursor from the events."""
    taken = cursor(session, rollups.PURCHASES)
    first, end, edges = funnel_days.day_split(since, until)
    if first >= end:
        parts = [purchases.in_period(session, by, (since, until))]
    else:
        parts = [
            purchases.summed(session, by, first, end),
            *(purchases.in_period(session, by, edge, up_to=taken) for edge in edges),
            purchases.in_period(session, by, (since, until), after=taken),
        ]
    found: dict[str, tuple[int, float]] = {}
    for part in parts:
        for value, (count, amount) in part.items():
            name = value or "(none)"
            before = found.get(name, (0, 0.0))
            found[name] = (before[0] + int(count), before[1] + amount)
    return {name: figures for name, figures in found.items() if figures[0]}


def _funnel_by(
    session: Session, dimension: str, since: datetime, until: datetime
) -> dict[str, tuple[int, int, int, int]]:
    """(contacts, leads, qualified, customers) per group of DIMENSION (first-touch campaign
    else UTM campaign, channel or source) of the contacts who entered in the period."""
    return {
        "(none)" if name is None else name: (
            c["contacts"],
            c["leads"],
            c["qualified"],
            c["customers"],
        )
        for name, c in funnel_days.group_counts(session, dimension, since, until).items()
    }


def roi(
    session: Session,
    *,
    now: datetime,
    by: str = "campaign",
    since: datetime | None = None,
    until: datetime | None = None,
    currency: str = "EUR",
) -> Report:
    """Cost, results and return per campaign, channel or source, for a period: costs spent and
    purchases made in it, leads and customers among the contacts who entered in it."""
    if by not in DIMENSIONS:
        raise InvalidInputError(f"--by {by!r}: ROI is split by one of {', '.join(DIMENSIONS)}")
    start, end = since or datetime(2000, 1, 1, tzinfo=UTC), until or now + timedelta(days=1)
    check_period(start, end)
    rollups.refresh(session, now)
    rows = (
        _by_campaign(session, start, end)
        if by == "campaign"
        else _by_other(session, by, start, end)
    )
    notes = [] if rows else ["nothing cost or brought anything in this period: no data"]
    if any(r["cost"] == 0 for r in rows):
        notes.append(
            "without a recorded cost there is no ROI (undefined, not 0): record costs with "
            "`leadsift cost add --campaign C --amount X [--channel] [--source]`"
        )
    columns = tuple(
        Column(by, by, "text") if c.key == "campaign" else c
        for c in _COLUMNS
        if not (c.key == "sends" and by == "source")
    )
    return Report(
        title=f"ROI by {by}",
        columns=columns,
        rows=tuple({by if k == "campaign" else k: v for k, v in r.items()} for r in rows),
        notes=tuple(notes),
        chart=ChartSpec("bar", by, "roi") if rows else None,
        meta={"currency": currency, "by": by, "from": start.isoformat(), "to": end.isoformat()},
    )
