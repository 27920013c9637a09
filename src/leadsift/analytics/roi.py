"""Return on investment per campaign: what it cost, what it brought (leads, qualified prospects,
customers, revenue), cost per step, ROI = (revenue − cost) / cost and return on ad spend."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from leadsift.analytics import cost_repository as sql
from leadsift.analytics import rollups
from leadsift.analytics.rendering import ChartSpec, Column, Report

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


def _ratio(part: float, whole: float) -> float | None:
    """PART / WHOLE, undefined (None, never 0 nor infinite) when WHOLE is 0."""
    return part / whole if whole else None


def roi(session: Session, *, now: datetime, currency: str = "EUR") -> Report:
    """Cost, results and return of every campaign that cost or brought something."""
    rollups.refresh(session, now)
    costs = sql.cost_by(session, "campaign")
    revenue = sql.revenue_by_campaign(session)
    sends = sql.sends_by_campaign(session)
    funnel = sql.funnel_by_campaign(session)
    names = sorted(set(costs) | set(revenue) | {n for n in funnel if n != "(none)"})
    rows = []
    for name in names:
        cost = costs.get(name, 0.0)
        conversions, earned = revenue.get(name, (0, 0.0))
        _, leads, qualified, customers = funnel.get(name, (0, 0, 0, 0))
        rows.append(
            {
                "campaign": name, "cost": cost, "sends": sends.get(name, 0), "leads": leads,
                "qualified": qualified, "customers": customers, "conversions": conversions,
                "revenue": earned, "cost_per_lead": _ratio(cost, leads),
                "cost_per_qualified": _ratio(cost, qualified),
                "cost_per_customer": _ratio(cost, customers),
                "roi": _ratio(earned - cost, cost), "roas": _ratio(earned, cost),
            }
        )  # fmt: skip
    notes = [] if rows else ["no campaign cost or brought anything yet: no data"]
    if any(r["cost"] == 0 for r in rows):
        notes.append(
            "campaigns without a recorded cost have no ROI (undefined, not 0): record costs "
            "with `leadsift cost add --campaign C --amount X`"
        )
    return Report(
        title="ROI by campaign",
        columns=_COLUMNS,
        rows=tuple(rows),
        notes=tuple(notes),
        chart=ChartSpec("bar", "campaign", "roi") if rows else None,
        meta={"currency": currency},
    )
