"""SQL of the reports: the funnel by a dimension, from the funnel rollup."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner, User
from leadsift.analytics.models import FunnelFact
from leadsift.kit.sqljson import epoch_seconds, hours_of, utc_month, utc_week

# Contacts still on their way (neither converted nor out of the funnel now).
OPEN_STAGES: Final = ("contact", "lead", "qualified")
# What a funnel can be split by, and the SQL of each.
DIMENSIONS: Final[dict[str, Any]] = {
    "all": literal("all"),
    "cohort_week": utc_week(FunnelFact.entered_at),
    "cohort_month": utc_month(FunnelFact.entered_at),
    # The contact's, as copied into its fact (no join with the contacts).
    "source": FunnelFact.source,
    "region": FunnelFact.region,
    "utm_campaign": FunnelFact.utm_campaign,
    "campaign": FunnelFact.campaign,
    "channel": FunnelFact.channel,
    "agent": User.name,
}


def _reached(*columns: Any) -> Any:
    """How many contacts reached the stage (or a later one): one of COLUMNS is set."""
    return func.count(func.coalesce(*columns) if len(columns) > 1 else columns[0])


def funnel_counts(
    session: Session, by: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Per group of contacts who entered in [SINCE, UNTIL): how many reached each stage, and
    how many left (unqualified, lost) or are still in progress."""
    return [dict(row._mapping) for row in session.execute(funnel_query(by, since, until))]


def funnel_query(by: str, since: datetime, until: datetime) -> Any:
    """The funnel's one query (see funnel_counts); snapshot-tested."""
    group = DIMENSIONS[by].label("group")
    open_ = func.count().filter(FunnelFact.stage.in_(OPEN_STAGES))
    query = (
        select(
            group,
            func.count().label("contacts"),
            _reached(FunnelFact.lead_at, FunnelFact.qualified_at, FunnelFact.customer_at).label(
                "leads"
            ),
            _reached(FunnelFact.qualified_at, FunnelFact.customer_at).label("qualified"),
            _reached(FunnelFact.customer_at).label("customers"),
            func.count().filter(FunnelFact.stage == "unqualified").label("unqualified"),
            func.count().filter(FunnelFact.stage == "lost").label("lost"),
            open_.label("in_progress"),
        )
        .select_from(FunnelFact)
        .where(FunnelFact.entered_at >= since, FunnelFact.entered_at < until)
        .group_by(group)
        .order_by(group)
    )
    return _joined(query, by)


def owner_counts(
    session: Session, user_id: int, since: datetime, until: datetime
) -> dict[str, Any] | None:
    """The funnel counts of the contacts USER_ID owns who entered in [SINCE, UNTIL) (their row
    of the funnel by agent); None when they own none of those."""
    query = (
        funnel_query("all", since, until)
        .join(ContactOwner, ContactOwner.contact_id == FunnelFact.contact_id)
        .where(ContactOwner.user_id == user_id)
    )
    found = session.execute(query).first()
    return None if found is None else dict(found._mapping)


def _joined(query: Any, by: str) -> Any:
    """QUERY over the funnel facts with what dimension BY reads (nothing more)."""
    if by == "agent":
        query = query.outerjoin(ContactOwner, ContactOwner.contact_id == FunnelFact.contact_id)
        query = query.outerjoin(User, User.id == ContactOwner.user_id)
    return query


def conversion_times(
    session: Session, by: str, since: datetime, until: datetime
) -> list[tuple[Any, float, float | None]]:
    """(group, seconds from entry to customer, seconds from qualified to customer) of each
    customer who entered in [SINCE, UNTIL)."""
    group = DIMENSIONS[by]
    entered = epoch_seconds(FunnelFact.entered_at)
    customer = epoch_seconds(FunnelFact.customer_at)
    qualified = epoch_seconds(FunnelFact.qualified_at)
    query = (
        select(group, customer - entered, customer - qualified)
        .select_from(FunnelFact)
        .where(
            FunnelFact.entered_at >= since,
            FunnelFact.entered_at < until,
            FunnelFact.customer_at.is_not(None),
        )
    )
    query = _joined(query, by)
    return [
        (g, float(total), None if q is None else float(q)) for g, total, q in session.execute(query)
    ]


# The steps whose duration "time in stage" measures: (name, from, to).
STEPS: Final = (
    ("entered → lead", FunnelFact.entered_at, FunnelFact.lead_at),
    ("lead → qualified", FunnelFact.lead_at, FunnelFact.qualified_at),
    ("qualified → customer", FunnelFact.qualified_at, FunnelFact.customer_at),
)


def step_hours(
    session: Session, since: datetime, until: datetime
) -> dict[str, list[tuple[int, int]]]:
    """Per step: (whole hours it took, contacts) of those who entered in the period and made
    it — a histogram, so medians need not read a row per contact."""
    found: dict[str, list[tuple[int, int]]] = {}
    for name, start, end in STEPS:
        hours = hours_of(epoch_seconds(end) - epoch_seconds(start))
        query = (
            select(hours, func.count())
            .where(
                FunnelFact.entered_at >= since,
                FunnelFact.entered_at < until,
                start.is_not(None),
                end.is_not(None),
                end >= start,
            )
            .group_by(hours)
            .order_by(hours)
        )
        found[name] = [(int(h), int(n)) for h, n in session.execute(query)]
    return found
