"""Reports by campaign (delivery and results), by agent (assigned, touched, won, revenue), by
source (funnel and cost per step), and who showed interest but did not buy."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import activity_repository as activity_sql
from leadsift.analytics import agent_days, cost_repository, funnel, rollups
from leadsift.analytics import breakdown_repository as sql
from leadsift.analytics.agent_day_repository import FIGURES
from leadsift.analytics.funnel import rate
from leadsift.analytics.naming import natural_key
from leadsift.analytics.rendering import ChartSpec, Column, Report

_MESSAGE_TYPES: Final = {
    "sent": ("email_sent", "sms_sent"),
    "opened": ("email_opened",),
    "clicked": ("email_clicked",),
    "replied": ("email_replied", "sms_replied"),
    "unsubscribed": ("email_unsubscribed", "sms_stop"),
    "bounced": ("email_bounced",),
    "purchases": ("purchase", "promo_redeemed"),
}


def campaigns(session: Session, *, now: datetime) -> Report:
    """Per campaign: messages sent, opened, clicked, replies, unsubscribes, bounces, purchases,
    revenue and cost, with the rates that matter."""
    rollups.refresh(session, now)
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for campaign, kind, events, amount in sql.campaign_events(session):
        for name, types in _MESSAGE_TYPES.items():
            if kind in types:
                counts[campaign][name] += events
                if name == "purchases":
                    counts[campaign]["revenue"] += amount
    costs = cost_repository.cost_by(session, "campaign")
    rows: list[dict[str, object]] = []
    for name in sorted(set(counts) | set(costs), key=natural_key):
        found = counts[name]
        sent = found["sent"]
        rows.append(
            {
                "campaign": name, **{k: int(found[k]) for k in _MESSAGE_TYPES},
                "open_rate": rate(found["opened"], sent),
                "click_rate": rate(found["clicked"], sent),
                "unsubscribe_rate": rate(found["unsubscribed"], sent),
                "revenue": found["revenue"], "cost": costs.get(name, 0.0),
            }
        )  # fmt: skip
    return Report(
        title="Campaigns",
        columns=(
            Column("campaign", "campaign", "text"),
            *(Column(k, k, "count") for k in _MESSAGE_TYPES),
            Column("open_rate", "open rate", "rate"),
            Column("click_rate", "click rate", "rate"),
            Column("unsubscribe_rate", "unsubscribe rate", "rate"),
            Column("revenue", "revenue", "money"),
            Column("cost", "cost", "money"),
        ),
        rows=tuple(rows),
        notes=() if rows else ("no campaign yet: no data",),
        chart=ChartSpec("bar", "campaign", "revenue") if rows else None,
    )


def agents(session: Session, *, since: datetime, until: datetime, now: datetime) -> Report:
    """Per agent, for prospects qualified in the period: assigned, touched, calls, won, lost,
    win rate and revenue."""
    funnel.check_period(since, until)
    rollups.refresh(session, now)  # the facts' stages (nothing when a page's are fresh)
    rows = []
    for name, values in sorted(agent_days.figures(session, since, until).items()):
        row: dict[str, Any] = {"agent": name, **dict(zip(FIGURES, values, strict=True))}
        for count in FIGURES[:-1]:
            row[count] = int(row[count])
        rows.append({**row, "win_rate": rate(row["won"], row["won"] + row["lost"])})
    return Report(
        title="Agents",
        columns=(
            Column("agent", "agent", "text"),
            Column("prospects", "prospects", "count"),
            Column("open", "open now", "count"),
            Column("touched", "touched", "count"),
            Column("calls", "calls", "count"),
            Column("won", "won", "count"),
            Column("lost", "lost", "count"),
            Column("win_rate", "win rate", "rate"),
            Column("revenue", "revenue", "money"),
        ),
        rows=tuple(rows),
        notes=() if rows else ("no prospect assigned in this period: no data",),
        chart=ChartSpec("bar", "agent", "won") if rows else None,
        meta={"from": since.isoformat(), "to": until.isoformat()},
    )


def sources(session: Session, *, since: datetime, until: datetime, now: datetime) -> Report:
    """The funnel by source, with what each source cost per lead, qualified and customer."""
    by_source = funnel.funnel(session, by="source", since=since, until=until, now=now)
    costs = cost_repository.cost_by(session, "source")
    rows = []
    for row in by_source.rows:
        cost = costs.get(str(row["group"]), 0.0)
        extra: dict[str, Any] = {
            "cost": cost,
            "cost_per_lead": rate(cost, float(str(row["leads"]))) if cost else None,
            "cost_per_customer": rate(cost, float(str(row["customers"]))) if cost else None,
        }
        rows.append({**row, **extra})
    return Report(
        title="Sources",
        columns=(
            *by_source.columns,
            Column("cost", "cost", "money"),
            Column("cost_per_lead", "cost / lead", "money"),
            Column("cost_per_customer", "cost / customer", "money"),
        ),
        rows=tuple(rows),
        notes=by_source.notes,
        chart=ChartSpec("bar", "group", "overall_rate") if rows else None,
        meta=by_source.meta,
    )


BUCKETS: Final = ((7, "last 7 days"), (30, "8–30 days"), (90, "31–90 days"))


def interest_no_purchase(
    session: Session, *, threshold: float, now: datetime, limit: int = 20
) -> Report:
    """Contacts with interest at or above THRESHOLD who never bought: how many by last
    activity, and the most interested (for remarketing)."""
    rollups.refresh(session, now)  # their last events (nothing when a page's are fresh)
    total, since, active = activity_sql.interest_counts(
        session, threshold, [now - timedelta(days=days) for days, _ in BUCKETS]
    )
    buckets = dict(zip([name for _, name in BUCKETS], _differences(since), strict=True))
    buckets["older"] = active - (since[-1] if since else 0)
    buckets["no activity"] = total - active
    top = activity_sql.most_interested(session, threshold, limit)
    for person in top:
        person["interest"] = round(person["interest"], 1)
        person["last_active"] = _bucket(now, person["last_activity"])
    order = [name for _, name in BUCKETS] + ["older", "no activity"]
    notes = [f"{total:,} contacts with interest ≥ {threshold:g} and no purchase: "
             + ", ".join(f"{buckets[n]:,} {n}" for n in order if buckets[n])]  # fmt: skip
    return Report(
        title="Interest but no purchase",
        columns=(
            Column("contact_id", "contact", "text"),
            Column("interest", "interest", "number"),
            Column("stage", "stage", "text"),
            Column("last_active", "last activity", "text"),
            Column("source", "source", "text"),
        ),
        rows=tuple(
            {k: p[k] for k in ("contact_id", "interest", "stage", "last_active", "source")}
            for p in top
        ),
        notes=tuple(notes) if total else ("nobody showed that much interest without buying",),
        meta={"threshold": threshold, "contacts": total},
    )


def _differences(cumulative: list[int]) -> list[int]:
    """Counts per bucket from counts since each (growing) edge."""
    return [n - (cumulative[i - 1] if i else 0) for i, n in enumerate(cumulative)]


def _bucket(now: datetime, last: datetime | None) -> str:
    """The last-activity bucket of one contact."""
    if last is None:
        return "no activity"
    age = now - last
    return next((name for days, name in BUCKETS if age <= timedelta(days=days)), "older")
