"""SQL of the day rollups: the facts they count (read, and their copied and derived columns
filled), the sums they hold (added to, read for whole days), and the exact values of one day
count of spans."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    column,
    delete,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy import values as values_of
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from leadsift.analytics.day_tally import COUNTS, NONE, Fact, Tally
from leadsift.analytics.models import FunnelDay, FunnelFact, FunnelSpan
from leadsift.contacts.models import Contact
from leadsift.kit.bulk import dialect_insert, is_postgres
from leadsift.kit.sqljson import epoch_seconds, hours_of, portable_function, utc_day

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
# (measure, start, end, its exact value's column, its whole days' column): the steps of time in
# stage (whole hours), and conversion (seconds).
SPANS: Final = (
    ("convert", FunnelFact.entered_at, FunnelFact.customer_at, FunnelFact.seconds_to_convert,
     FunnelFact.days_to_convert),
    ("lead", FunnelFact.entered_at, FunnelFact.lead_at, FunnelFact.hours_to_lead,
     FunnelFact.days_to_lead),
    ("qualify", FunnelFact.lead_at, FunnelFact.qualified_at, FunnelFact.hours_to_qualify,
     FunnelFact.days_to_qualify),
    ("win", FunnelFact.qualified_at, FunnelFact.customer_at, FunnelFact.hours_to_win,
     FunnelFact.days_to_win),
)  # fmt: skip
SPAN_COLUMN: Final = {measure: days for measure, _, _, _, days in SPANS}
# What a fact counts, read without a timestamp parsed: its day of entry and which stages it made.
_READ: Final = (
    utc_day(FunnelFact.entered_at), FunnelFact.stage, FunnelFact.lead_at.is_not(None),
    FunnelFact.qualified_at.is_not(None), FunnelFact.customer_at.is_not(None),
    *GROUP_COLUMNS.values(), *SPAN_COLUMN.values(),
)  # fmt: skip


def utc_date(moment: datetime) -> date:
    """The UTC calendar day of MOMENT."""
    return moment.astimezone(UTC).date()


def _fact(row: Any) -> Fact:
    day, stage, lead, qualified, customer, *rest = row
    groups = dict(zip(GROUP_COLUMNS, rest[: len(GROUP_COLUMNS)], strict=True))
    spans = dict(zip(SPAN_COLUMN, rest[len(GROUP_COLUMNS) :], strict=True))
    return Fact(
        date.fromisoformat(day), stage, bool(lead or qualified or customer),
        bool(qualified or customer), bool(customer), groups, spans,
    )  # fmt: skip


def facts_of(session: Session, contacts: Select[Any] | list[int]) -> list[Fact]:
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


def _span(measure: str, start: Any, end: Any) -> tuple[Any, Any]:
    """A span's exact value (seconds to convert, whole hours of a step; NULL when not made), as
    the reports have always computed it, and its whole days."""
    seconds = epoch_seconds(end) - epoch_seconds(start)
    if measure == "convert":
        return case((end.is_(None), None), else_=seconds), case(
            (end.is_(None), None), else_=whole_days(seconds)
        )
    made = and_(start.is_not(None), end.is_not(None), end >= start)
    return case((made, hours_of(seconds)), else_=None), case(
        (made, hours_of(seconds) // 24), else_=None
    )


def fill(session: Session, contacts: Select[Any] | list[int] | None) -> None:
    """Copy the source and region of the contacts CONTACTS selects (everyone's with None) into
    their facts, and work out their spans."""
    spans: dict[str, Any] = {}
    for measure, start, end, value, days in SPANS:
        spans[value.key], spans[days.key] = _span(measure, start, end)
    query = update(FunnelFact).values(
        source=select(Contact.source).where(Contact.id == FunnelFact.contact_id).scalar_subquery(),
        region=select(Contact.region).where(Contact.id == FunnelFact.contact_id).scalar_subquery(),
        **spans,
    )
    if contacts is not None:
        query = query.where(FunnelFact.contact_id.in_(contacts))
    session.execute(query.execution_options(synchronize_session=False))


def window_end(session: Session, low: int, size: int) -> int | None:
    """The id of the SIZE-th fact from id LOW on (None when fewer remain): a window of facts,
    not of ids, which may be sparse (deleted contacts, a raised id floor)."""
    query = (
        select(FunnelFact.contact_id)
        .where(FunnelFact.contact_id >= low)
        .order_by(FunnelFact.contact_id)
        .offset(size - 1)
        .limit(1)
    )
    found = session.scalar(query)
    return None if found is None else int(found)


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


def counted_days(session: Session) -> dict[date, int]:
    """Facts counted per day of entry by the day rollups."""
    query = select(type_coerce(FunnelDay.day, String()), FunnelDay.contacts).where(
        FunnelDay.dimension == "all"
    )
    return {_day(day): int(n) for day, n in session.execute(query)}


def fact_days(session: Session) -> dict[date, int]:
    """Facts per day of entry."""
    day = utc_day(FunnelFact.entered_at)
    query = select(day, func.count()).group_by(day)
    return {date.fromisoformat(found): int(n) for found, n in session.execute(query)}


def clear_days(session: Session, found: list[date]) -> None:
    """Empty the day rollups of the days of entry FOUND (before they are counted again)."""
    session.execute(delete(FunnelDay).where(FunnelDay.day.in_(found)))
    session.execute(delete(FunnelSpan).where(FunnelSpan.day.in_(found)))


def counted(session: Session) -> int:
    """How many facts the day rollups count."""
    query = select(func.sum(FunnelDay.contacts)).where(FunnelDay.dimension == "all")
    return int(session.scalar(query) or 0)


# The day of sums over many days (summed in SQL: which day does not matter to their reader).
ANY_DAY: Final = date.min


def day_sums(
    session: Session,
    dimension: str,
    first: date,
    end: date,
    measures: tuple[str, ...],
    *,
    by_day: bool,
) -> Tally:
    """The counts and the spans of MEASURES of DIMENSION's groups for the days [FIRST, END),
    summed per day (BY_DAY) or over all of them (keyed ANY_DAY)."""
    found = Tally({}, {})
    # Read as text: SQLAlchemy's parsing of SQLite's dates costs more than the sums.
    day = type_coerce(FunnelDay.day, String())
    keys: tuple[Any, ...] = (FunnelDay.value, day) if by_day else (FunnelDay.value,)
    counted = (
        select(*keys, *(func.sum(getattr(FunnelDay, n)) for n in COUNTS))
        .where(FunnelDay.dimension == dimension, FunnelDay.day >= first, FunnelDay.day < end)
        .group_by(*keys)
    )
    for value, *rest in session.execute(counted):
        when = _day(rest.pop(0)) if by_day else ANY_DAY
        found.days[(dimension, value, when)] = [int(n) for n in rest]
    if not measures:
        return found
    span_day = type_coerce(FunnelSpan.day, String())
    span_keys: tuple[Any, ...] = (FunnelSpan.measure, FunnelSpan.value, FunnelSpan.days)
    span_keys = (*span_keys, span_day) if by_day else span_keys
    spans = (
        select(*span_keys, func.sum(FunnelSpan.contacts))
        .where(
            FunnelSpan.measure.in_(measures),
            FunnelSpan.dimension == dimension,
            FunnelSpan.day >= first,
            FunnelSpan.day < end,
        )
        .group_by(*span_keys)
    )
    for measure, value, days, *rest in session.execute(spans):
        when = _day(rest.pop(0)) if by_day else ANY_DAY
        found.spans[(measure, dimension, value, when, days)] = int(rest[0])
    return found


def _day(value: Any) -> date:
    """A date as the driver gives it (SQLite: ISO text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def ordered(session: Session, names: list[str]) -> list[str]:
    """NAMES in the order the database sorts the groups of a report (its collation; the group
    without a value, "", where NULL sorts)."""
    if len(names) < 2 or not is_postgres(session):
        return sorted(names)  # SQLite compares text by code point, as Python; "" first as NULL
    listed = values_of(column("name", String()), name="names").data([(n,) for n in names])
    name = listed.c.name
    query = select(name).order_by(func.nullif(name, NONE))
    return [str(n) for n in session.scalars(query)]


def value_at(
    session: Session,
    measure: str,
    bucket: int,
    offset: int,
    *,
    period: tuple[datetime, datetime],
    where: ColumnElement[bool] | None = None,
) -> float | None:
    """The OFFSET-th smallest exact value (0-based: seconds to convert, or whole hours of a
    step) among the facts of PERIOD whose span took BUCKET whole days (and matching WHERE),
    read along the span's index; None when there are not that many."""
    _, _, _, value, days = next(span for span in SPANS if span[0] == measure)
    query = (
        select(value)
        .where(
            days == bucket, FunnelFact.entered_at >= period[0], FunnelFact.entered_at < period[1]
        )
        .order_by(value)
        .limit(1)
        .offset(offset)
    )
    if where is not None:
        query = query.where(where)
    found = session.scalar(query)
    return None if found is None else float(found)
