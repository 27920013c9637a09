"""SQL of the day rollups: the facts they count (read, and their copied and derived columns
filled), the sums they hold (added to, read for whole days), and the exact values of one day
count of spans."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, case, column, delete, func, select, update
from sqlalchemy import values as values_of
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from leadsift.analytics.day_tally import COUNTS, NONE, Fact, Tally
from leadsift.analytics.models import FunnelDay, FunnelFact, FunnelSpan
from leadsift.contacts.models import Contact
from leadsift.kit.bulk import dialect_insert, is_postgres
from leadsift.kit.sqljson import epoch_seconds, hours_of, portable_function

# Whole days in a number of seconds, as an integer: the bucket of a time to convert.
whole_days = portable_function(
    "whole_days",
    sqlite="CAST(({}) / 86400.0 AS INTEGER)",
    postgresql="CAST(floor(({}) / 86400.0) AS BIGINT)",
)
# The facts' column of each dimension the rollups count.
GROUP_COLUMNS: Final[dict[str, Any]] = {
    "source": FunnelFact.source,
    "region": FunnelFact.region,
    "campaign": FunnelFact.campaign,
    "channel": FunnelFact.channel,
    "utm_campaign": FunnelFact.utm_campaign,
    "touch": func.coalesce(FunnelFact.campaign, FunnelFact.utm_campaign),
    "unqualified_reason": FunnelFact.unqualified_reason,
    "lost_reason": FunnelFact.lost_reason,
}
# (measure, start, end, column of its whole days): the steps of time in stage, and conversion.
SPANS: Final = (
    ("convert", FunnelFact.entered_at, FunnelFact.customer_at, FunnelFact.days_to_convert),
    ("lead", FunnelFact.entered_at, FunnelFact.lead_at, FunnelFact.days_to_lead),
    ("qualify", FunnelFact.lead_at, FunnelFact.qualified_at, FunnelFact.days_to_qualify),
    ("win", FunnelFact.qualified_at, FunnelFact.customer_at, FunnelFact.days_to_win),
)
SPAN_COLUMN: Final = {measure: days for measure, _, _, days in SPANS}
_READ: Final = (
    FunnelFact.entered_at, FunnelFact.stage, FunnelFact.lead_at, FunnelFact.qualified_at,
    FunnelFact.customer_at, *GROUP_COLUMNS.values(), *SPAN_COLUMN.values(),
)  # fmt: skip


def utc_date(moment: datetime) -> date:
    """The UTC calendar day of MOMENT."""
    return moment.astimezone(UTC).date()


def _fact(row: Any) -> Fact:
    entered, stage, lead, qualified, customer, *rest = row
    groups = dict(zip(GROUP_COLUMNS, rest[: len(GROUP_COLUMNS)], strict=True))
    spans = dict(zip(SPAN_COLUMN, rest[len(GROUP_COLUMNS) :], strict=True))
    return Fact(
        utc_date(entered), stage, lead is not None or qualified is not None or customer is not None,
        qualified is not None or customer is not None, customer is not None, groups, spans,
    )  # fmt: skip


def facts_of(session: Session, contacts: Select[Any]) -> list[Fact]:
    """The facts of the contacts CONTACTS selects (ids)."""
    query = select(*_READ).where(FunnelFact.contact_id.in_(contacts))
    return [_fact(row) for row in session.execute(query)]


def facts_between(session: Session, since: datetime, until: datetime) -> list[Fact]:
    """The facts of contacts who entered in [SINCE, UNTIL) (a part of a day: few)."""
    query = select(*_READ).where(FunnelFact.entered_at >= since, FunnelFact.entered_at < until)
    return [_fact(row) for row in session.execute(query)]


def all_facts(session: Session) -> Iterable[Fact]:
    """Every fact, streamed (a rebuild)."""
    for row in session.execute(select(*_READ).execution_options(yield_per=20_000)):
        yield _fact(row)


def _span_days(measure: str, start: Any, end: Any) -> Any:
    seconds = epoch_seconds(end) - epoch_seconds(start)
    if measure == "convert":
        return case((end.is_(None), None), else_=whole_days(seconds))
    made = and_(start.is_not(None), end.is_not(None), end >= start)
    return case((made, hours_of(seconds) // 24), else_=None)


def fill(session: Session, contacts: Select[Any] | None) -> None:
    """Copy the source and region of the contacts CONTACTS selects (everyone's with None) into
    their facts, and work out their span days."""
    query = update(FunnelFact).values(
        source=select(Contact.source).where(Contact.id == FunnelFact.contact_id).scalar_subquery(),
        region=select(Contact.region).where(Contact.id == FunnelFact.contact_id).scalar_subquery(),
        **{days.key: _span_days(measure, start, end) for measure, start, end, days in SPANS},
    )
    if contacts is not None:
        query = query.where(FunnelFact.contact_id.in_(contacts))
    session.execute(query.execution_options(synchronize_session=False))


def moved_groups(low: int, high: int) -> Select[Any]:
    """Contacts with ids in [LOW, HIGH] whose source or region differs from their fact's."""
    return (
        select(FunnelFact.contact_id)
        .join(Contact, Contact.id == FunnelFact.contact_id)
        .where(
            FunnelFact.contact_id.between(low, high),
            Contact.source.is_distinct_from(FunnelFact.source)
            | Contact.region.is_distinct_from(FunnelFact.region),
        )
    )


def add(session: Session, found: Tally) -> None:
    """Add FOUND's sums to the rollups (rows at zero are kept: reports skip them)."""
    insert = dialect_insert(session)
    rows = [
        {"dimension": d, "value": v, "day": day, **dict(zip(COUNTS, counts, strict=True))}
        for (d, v, day), counts in found.days.items()
        if any(counts)
    ]
    if rows:
        statement = insert(FunnelDay)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["dimension", "value", "day"],
                set_={n: getattr(FunnelDay, n) + statement.excluded[n] for n in COUNTS},
            ),
            rows,
        )
    spans = [
        {"measure": m, "dimension": d, "value": v, "day": day, "days": n, "contacts": c}
        for (m, d, v, day, n), c in found.spans.items()
        if c
    ]
    if spans:
        statement = insert(FunnelSpan)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["measure", "dimension", "value", "day", "days"],
                set_={"contacts": FunnelSpan.contacts + statement.excluded.contacts},
            ),
            spans,
        )


def clear(session: Session) -> None:
    """Empty the day rollups (before a rebuild)."""
    session.execute(delete(FunnelDay))
    session.execute(delete(FunnelSpan))


def facts_count(session: Session) -> int:
    """How many funnel facts there are."""
    return int(session.scalar(select(func.count()).select_from(FunnelFact)) or 0)


def counted(session: Session) -> int:
    """How many facts the day rollups count."""
    query = select(func.sum(FunnelDay.contacts)).where(FunnelDay.dimension == "all")
    return int(session.scalar(query) or 0)


def day_sums(session: Session, dimension: str, first: date, end: date) -> Tally:
    """The counts and spans of DIMENSION's groups for the days [FIRST, END)."""
    found = Tally({}, {})
    counted_days = select(
        FunnelDay.value, FunnelDay.day, *(getattr(FunnelDay, n) for n in COUNTS)
    ).where(FunnelDay.dimension == dimension, FunnelDay.day >= first, FunnelDay.day < end)
    for value, day, *counts in session.execute(counted_days):
        found.days[(dimension, value, day)] = list(counts)
    spans = select(
        FunnelSpan.measure, FunnelSpan.value, FunnelSpan.day, FunnelSpan.days, FunnelSpan.contacts
    ).where(FunnelSpan.dimension == dimension, FunnelSpan.day >= first, FunnelSpan.day < end)
    for measure, value, day, days, contacts in session.execute(spans):
        found.spans[(measure, dimension, value, day, days)] = contacts
    return found


def ordered(session: Session, names: list[str]) -> list[str]:
    """NAMES in the order the database sorts the groups of a report (its collation; the group
    without a value, "", where NULL sorts)."""
    if len(names) < 2 or not is_postgres(session):
        return sorted(names)  # SQLite compares text by code point, as Python; "" first as NULL
    listed = values_of(column("name", String()), name="names").data([(n,) for n in names])
    name = listed.c.name
    query = select(name).order_by(func.nullif(name, NONE))
    return [str(n) for n in session.scalars(query)]


def exact_values(
    session: Session,
    measure: str,
    bucket: int,
    period: tuple[datetime, datetime],
    where: ColumnElement[bool] | None = None,
) -> list[float]:
    """The exact values (seconds to convert, or whole hours of a step) of the facts of PERIOD
    whose span took BUCKET whole days (and matching WHERE), sorted."""
    _, start, end, days = next(span for span in SPANS if span[0] == measure)
    seconds = epoch_seconds(end) - epoch_seconds(start)
    value = seconds if measure == "convert" else hours_of(seconds)
    query = select(value).where(
        days == bucket, FunnelFact.entered_at >= period[0], FunnelFact.entered_at < period[1]
    )
    if where is not None:
        query = query.where(where)
    return sorted(float(found) for found in session.scalars(query))
