"""SQL of the purchase days: purchases (and redemptions) per UTC day and buyer's source or
first-touch channel, as the buyers' funnel facts hold them — what ROI by source or channel sums
for whole days; the events of partial days and past the cursor are read as they are."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, delete, func, literal_column, select
from sqlalchemy.orm import Session

from leadsift.analytics.models import FunnelFact, PurchaseDay
from leadsift.analytics.rollup_repository import CONVERSION_TYPES, event_amount
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sqljson import utc_day

DIMENSIONS: Final = {"source": FunnelFact.source, "channel": FunnelFact.channel}
# The conversion types written out, so the planner sees the partial index's condition.
CONVERSIONS: Final = Event.type.in_([literal_column(f"'{kind}'") for kind in CONVERSION_TYPES])
Sums = dict[tuple[str, str, date], list[float]]  # (dimension, value, day) → [purchases, amount]


def _sums(session: Session, where: Sequence[ColumnElement[bool]]) -> Sums:
    """Purchases and amounts of the conversions WHERE selects, per day and buyer's groups."""
    day = utc_day(Event.occurred_at)
    query = (
        select(day, FunnelFact.source, FunnelFact.channel, func.count(), func.sum(event_amount()))
        .select_from(Event)
        .join(FunnelFact, FunnelFact.contact_id == Event.contact_id)
        .where(CONVERSIONS, *where)
        .group_by(day, FunnelFact.source, FunnelFact.channel)
    )
    found: Sums = {}
    for text, source, channel, count, amount in session.execute(query):
        for dimension, value in (("source", source), ("channel", channel)):
            sums = found.setdefault((dimension, value or "", date.fromisoformat(text)), [0, 0.0])
            sums[0] += int(count)
            sums[1] += float(amount or 0)
    return found


def of_contacts(session: Session, contacts: Select[Any] | list[int], up_to: int) -> Sums:
    """The conversions of CONTACTS with ids up to UP_TO (what the rollup counts of them)."""
    return _sums(session, [Event.contact_id.in_(contacts), Event.id <= up_to])


def difference(before: Sums, after: Sums) -> Sums:
    """AFTER less BEFORE, without the sums that did not change."""
    found: Sums = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key, [0, 0.0]), after.get(key, [0, 0.0])
        if old != new:
            found[key] = [new[0] - old[0], new[1] - old[1]]
    return found


def between(session: Session, after: int, up_to: int) -> Sums:
    """The conversions with ids in (AFTER, UP_TO]."""
    return _sums(session, [Event.id > after, Event.id <= up_to])


def add(session: Session, found: Sums, sign: int = 1) -> None:
    """Add FOUND (SIGN -1: take it away) to the purchase days."""
    rows = [
        {"dimension": d, "value": v, "day": day, "purchases": sign * int(n),
         "revenue": sign * amount}
        for (d, v, day), (n, amount) in found.items()
    ]  # fmt: skip
    if not rows:
        return
    statement = dialect_insert(session)(PurchaseDay)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["dimension", "day", "value"],
            set_={
                "purchases": PurchaseDay.purchases + statement.excluded.purchases,
                "revenue": PurchaseDay.revenue + statement.excluded.revenue,
            },
        ),
        rows,
    )


def clear(session: Session) -> None:
    """Empty the purchase days (before a rebuild)."""
    session.execute(delete(PurchaseDay))


def summed(session: Session, dimension: str, first: date, end: date) -> dict[str, list[float]]:
    """Purchases and revenue per group of DIMENSION over the days [FIRST, END)."""
    query = (
        select(PurchaseDay.value, func.sum(PurchaseDay.purchases), func.sum(PurchaseDay.revenue))
        .where(PurchaseDay.dimension == dimension, PurchaseDay.day >= first, PurchaseDay.day < end)
        .group_by(PurchaseDay.value)
    )
    return {value: [int(n or 0), float(r or 0)] for value, n, r in session.execute(query)}


def in_period(
    session: Session,
    dimension: str,
    period: tuple[datetime, datetime],
    *,
    up_to: int | None = None,
    after: int | None = None,
) -> dict[str, list[float]]:
    """Purchases and revenue per group of DIMENSION of the conversions in PERIOD (with ids up
    to UP_TO, or after AFTER), read from the events."""
    group = DIMENSIONS[dimension]
    query = (
        select(group, func.count(), func.sum(event_amount()))
        .select_from(Event)
        .join(FunnelFact, FunnelFact.contact_id == Event.contact_id)
        .where(CONVERSIONS, Event.occurred_at >= period[0], Event.occurred_at < period[1])
        .group_by(group)
    )
    if up_to is not None:
        query = query.where(Event.id <= up_to)
    if after is not None:
        query = query.where(Event.id > after)
    return {value or "": [int(n), float(r or 0)] for value, n, r in session.execute(query)}
