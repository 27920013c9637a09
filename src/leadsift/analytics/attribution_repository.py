"""SQL of attribution: conversions not yet credited, the touches before them, the credits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import Session

from leadsift.analytics.models import AttributionCredit, AttributionDay
from leadsift.analytics.rollup_repository import CONVERSION_TYPES, event_amount
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sequences import pieces

# What earns credit: leadsift's campaign, else the UTM campaign, else the UTM source.
_KEY: Final = case(
    (Event.campaign.is_not(None), "campaign:" + Event.campaign),
    (Event.utm_campaign.is_not(None), "utm:" + Event.utm_campaign),
    (Event.utm_source.is_not(None), "source:" + Event.utm_source),
)


def conversions_after(session: Session, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Conversions (purchases, redemptions) of known contacts after AFTER_ID, oldest id first."""
    query = (
        select(
            Event.id, Event.contact_id, Event.occurred_at.label("at"),
            event_amount().label("amount"),
        )
        .where(
            Event.id > after_id, Event.type.in_(CONVERSION_TYPES), Event.contact_id.is_not(None)
        )
        .order_by(Event.id)
        .limit(limit)
    )  # fmt: skip
    return [dict(row._mapping) for row in session.execute(query)]


def touches_of(
    session: Session, contact_ids: Sequence[int], since: datetime, until: datetime
) -> list[tuple[int, str, datetime]]:
    """(contact, key, when) of the touches of these contacts in [SINCE, UNTIL]: events carrying
    a campaign or UTM field, conversions excepted."""
    found: list[tuple[int, str, datetime]] = []
    for piece in pieces(sorted(set(contact_ids))):
        query = select(Event.contact_id, _KEY, Event.occurred_at).where(
            Event.contact_id.in_(piece),
            Event.occurred_at >= since,
            Event.occurred_at <= until,
            Event.type.not_in(CONVERSION_TYPES),
            _KEY.is_not(None),
        )
        found += [(int(c), str(k), at) for c, k, at in session.execute(query)]
    return found


def _day_sums(rows: Sequence[Any], sign: float) -> list[dict[str, Any]]:
    sums: dict[tuple[date, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for row in rows:
        found = sums[(row["converted_at"].astimezone(UTC).date(), row["model"], row["key"])]
        found[0] += sign * row["credit"]
        found[1] += sign * row["value"]
        found[2] += sign * row["touches"]
    return [
        {"day": d, "model": m, "key": k, "conversions": c, "revenue": v, "touches": int(t)}
        for (d, m, k), (c, v, t) in sums.items()
    ]


def _add_days(session: Session, sums: list[dict[str, Any]]) -> None:
    if not sums:
        return
    statement = dialect_insert(session)(AttributionDay)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "model", "key"],
            set_={
                "conversions": AttributionDay.conversions + statement.excluded.conversions,
                "revenue": AttributionDay.revenue + statement.excluded.revenue,
                "touches": AttributionDay.touches + statement.excluded.touches,
            },
        ),
        sums,
    )


_CREDIT_COLUMNS: Final = (
    AttributionCredit.converted_at, AttributionCredit.model, AttributionCredit.key,
    AttributionCredit.credit, AttributionCredit.value, AttributionCredit.touches,
)  # fmt: skip


def replace_credits(
    session: Session, conversion_ids: Sequence[int], rows: list[dict[str, Any]]
) -> None:
    """The credits of these conversions, written anew, with their day sums moved along (a pass
    done twice writes the same)."""
    for piece in pieces(list(conversion_ids)):
        query = select(*_CREDIT_COLUMNS).where(AttributionCredit.conversion_id.in_(piece))
        old = list(session.execute(query).mappings())
        if not old:
            continue  # conversions seen for the first time: nothing to take back
        _add_days(session, _day_sums(old, -1.0))
        session.execute(
            delete(AttributionCredit)
            .where(AttributionCredit.conversion_id.in_(piece))
            .execution_options(synchronize_session=False)
        )
    if rows:
        session.execute(insert(AttributionCredit), rows)
        _add_days(session, _day_sums(rows, 1.0))


def credit_totals(session: Session, since: date, until: date) -> list[dict[str, Any]]:
    """(model, key, credited conversions, credited revenue, touches) for conversions on the
    days [SINCE, UNTIL), from the day sums."""
    query = (
        select(
            AttributionDay.model,
            AttributionDay.key,
            func.sum(AttributionDay.conversions).label("conversions"),
            func.sum(AttributionDay.revenue).label("revenue"),
            func.sum(AttributionDay.touches).label("touches"),
        )
        .where(AttributionDay.day >= since, AttributionDay.day < until)
        .group_by(AttributionDay.model, AttributionDay.key)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def credits_of_contact(session: Session, contact_id: int) -> list[AttributionCredit]:
    """One contact's credits, conversion by conversion."""
    query = select(AttributionCredit).where(AttributionCredit.contact_id == contact_id)
    order = (AttributionCredit.conversion_id, AttributionCredit.model, AttributionCredit.key)
    return list(session.scalars(query.order_by(*order)))
