"""SQL of costs and of what they bought: costs, revenue and funnel counts per campaign."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from difflib import get_close_matches
from typing import Any

from sqlalchemy import case, func, select, union
from sqlalchemy.orm import Session

from leadsift.analytics.models import Cost, EventDay
from leadsift.analytics.rollup_repository import CONVERSION_TYPES, cursor, event_amount
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert
from leadsift.outreach.models import Campaign


def _names() -> Any:
    return union(
        select(Campaign.key.label("name")),
        select(Event.campaign.label("name")).where(Event.campaign.is_not(None)).distinct(),
        select(Event.utm_campaign.label("name")).where(Event.utm_campaign.is_not(None)).distinct(),
    ).subquery()


def campaign_known(session: Session, name: str) -> bool:
    """Whether NAME is a leadsift campaign or a campaign (or UTM campaign) named on events."""
    if session.scalar(select(Campaign.id).where(Campaign.key == name)) is not None:
        return True
    on_events = select(Event.id).where((Event.campaign == name) | (Event.utm_campaign == name))
    return session.scalar(on_events.limit(1)) is not None


def similar_campaigns(session: Session, name: str) -> list[str]:
    """Known campaign names close to NAME (for "did you mean")."""
    names = [str(n) for n in session.scalars(select(_names().c.name).limit(10_000)) if n]
    return get_close_matches(name, names, n=3, cutoff=0.6)


def add(session: Session, row: Cost) -> None:
    """Store one cost and flush so it has an id."""
    session.add(row)
    session.flush()


def add_many(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Store imported costs; rows already imported (same file and row) are skipped."""
    before = session.scalar(select(func.count()).select_from(Cost)) or 0
    statement = dialect_insert(session)(Cost).on_conflict_do_nothing(index_elements=["origin"])
    session.execute(statement, list(rows))
    return int(session.scalar(select(func.count()).select_from(Cost)) or 0) - int(before)


def costs(session: Session, campaign: str | None) -> list[Cost]:
    """Costs, newest first (of CAMPAIGN when given)."""
    query = select(Cost).order_by(Cost.spent_on.desc(), Cost.id.desc())
    if campaign is not None:
        query = query.where(Cost.campaign == campaign)
    return list(session.scalars(query))


def cost_by(
    session: Session, by: str, since: date | None = None, until: date | None = None
) -> dict[str, float]:
    """Total cost per campaign, channel or source (spent on the days [SINCE, UNTIL))."""
    column = {"campaign": Cost.campaign, "channel": Cost.channel, "source": Cost.source}[by]
    query = select(column, func.sum(Cost.amount)).group_by(column)
    if since is not None and until is not None:
        query = query.where(Cost.spent_on >= since, Cost.spent_on < until)
    return {str(k or "(none)"): float(v or 0) for k, v in session.execute(query)}


def _day_campaign() -> Any:
    """A day sum's campaign: leadsift's campaign, else its UTM campaign."""
    return case((EventDay.campaign != "", EventDay.campaign), else_=EventDay.utm_campaign)


def _event_campaign() -> Any:
    """An event's campaign: leadsift's campaign, else its UTM campaign."""
    return func.coalesce(Event.campaign, Event.utm_campaign, "")


def event_sums(
    session: Session,
    *,
    types: Sequence[str] | None = None,
    period: tuple[datetime, datetime] | None = None,
    utm: bool = True,
) -> dict[tuple[str, str], tuple[int, float]]:
    """(events, amount) per (campaign, type): the event-day sums plus the events past their
    cursor; the campaign is leadsift's, else (with UTM) the UTM campaign, else "(none)"."""
    day_campaign = _day_campaign() if utm else EventDay.campaign  # one expression each
    event_campaign = _event_campaign() if utm else func.coalesce(Event.campaign, "")
    on_days: list[Any] = [] if utm else [EventDay.campaign != ""]
    on_events: list[Any] = [Event.id > cursor(session, "event_days")]
    if not utm:
        on_events.append(Event.campaign.is_not(None))
    if types is not None:
        on_days.append(EventDay.type.in_(list(types)))
        on_events.append(Event.type.in_(list(types)))
    if period is not None:
        since, until = period
        on_days += [EventDay.day >= since.date(), EventDay.day < until.date()]
        on_events += [Event.occurred_at >= since, Event.occurred_at < until]
    summed = (
        select(day_campaign, EventDay.type, func.sum(EventDay.events), func.sum(EventDay.amount))
        .where(*on_days)
        .group_by(day_campaign, EventDay.type)
    )
    tail = (
        select(event_campaign, Event.type, func.count(), func.sum(event_amount()))
        .where(*on_events)
        .group_by(event_campaign, Event.type)
    )
    found: dict[tuple[str, str], tuple[int, float]] = {}
    for query in (summed, tail):
        for name, kind, n, amount in session.execute(query):
            key = (str(name or "(none)"), str(kind))
            count, total = found.get(key, (0, 0.0))
            found[key] = (count + int(n or 0), total + float(amount or 0))
    return found


def _by_campaign(sums: dict[tuple[str, str], tuple[int, float]]) -> dict[str, tuple[int, float]]:
    found: dict[str, tuple[int, float]] = {}
    for (name, _), (n, amount) in sums.items():
        count, total = found.get(name, (0, 0.0))
        found[name] = (count + n, total + amount)
    return found


def revenue_by_campaign(
    session: Session, since: datetime, until: datetime
) -> dict[str, tuple[int, float]]:
    """(conversions, revenue) per campaign in the period."""
    return _by_campaign(event_sums(session, types=CONVERSION_TYPES, period=(since, until)))


def sends_by_campaign(session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Messages sent per campaign in the period."""
    sums = event_sums(session, types=("email_sent", "sms_sent"), period=(since, until))
    return {name: n for name, (n, _) in _by_campaign(sums).items()}
