"""SQL of each contact's activity (last event, ever bought), copied beside its interest score,
and of the remarketing report that reads the scores alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from leadsift.analytics.rollup_repository import CONVERSION_TYPES
from leadsift.contacts.models import Contact, ContactScore
from leadsift.engagement.models import ContactActivity, Event
from leadsift.kit.bulk import dialect_insert


def add_activity(session: Session, after_id: int, up_to_id: int) -> None:
    """Take the events in (AFTER_ID, UP_TO_ID] into their contacts' last event and purchase
    flag (both only move forward: taking an event twice changes nothing), and copy them beside
    those contacts' interest scores."""
    bought = func.max(case((Event.type.in_(CONVERSION_TYPES), 1), else_=0)) > 0
    in_range = (Event.id > after_id, Event.id <= up_to_id, Event.contact_id.is_not(None))
    grouped = select(Event.contact_id, func.max(Event.occurred_at), bought).where(*in_range)
    insert = dialect_insert(session)(ContactActivity)
    statement = insert.from_select(
        ["contact_id", "last_event_at", "bought"], grouped.group_by(Event.contact_id)
    )
    later = insert.excluded.last_event_at > ContactActivity.last_event_at
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["contact_id"],
            set_={
                "last_event_at": case(
                    (later, insert.excluded.last_event_at), else_=ContactActivity.last_event_at
                ),
                "bought": or_(ContactActivity.bought, insert.excluded.bought),
            },
        )
    )
    own = ContactActivity.contact_id == ContactScore.contact_id
    session.execute(
        update(ContactScore)
        .where(ContactScore.contact_id.in_(select(Event.contact_id).where(*in_range)))
        .values(
            last_event_at=select(ContactActivity.last_event_at).where(own).scalar_subquery(),
            bought=select(ContactActivity.bought).where(own).scalar_subquery(),
        )
        .execution_options(synchronize_session=False)
    )


def _interested_without_purchase(threshold: float) -> Any:
    return and_(ContactScore.interest >= threshold, ContactScore.bought.is_not(True))


def interest_counts(
    session: Session, threshold: float, edges: Sequence[datetime]
) -> tuple[int, list[int], int]:
    """Contacts with interest at least THRESHOLD who never bought: how many, how many active
    since each of EDGES, and how many with any event."""
    query = select(
        func.count(),
        *(func.count(case((ContactScore.last_event_at >= edge, 1))) for edge in edges),
        func.count(ContactScore.last_event_at),
    ).where(_interested_without_purchase(threshold))
    total, *since, active = session.execute(query).one()
    return int(total), [int(n) for n in since], int(active)


def most_interested(session: Session, threshold: float, limit: int) -> list[dict[str, Any]]:
    """The LIMIT contacts with the highest interest (at least THRESHOLD) who never bought,
    highest first, with their stage, source and last event."""
    # Only the key is sorted (narrow sort records); the rest is looked up for LIMIT rows.
    top = (
        select(ContactScore.contact_id, ContactScore.interest)
        .where(_interested_without_purchase(threshold))
        .order_by(ContactScore.interest.desc(), ContactScore.contact_id)
        .limit(limit)
        .subquery()
    )
    score = aliased(ContactScore)
    query = (
        select(top, score.last_event_at, Contact.stage, Contact.source)
        .join(score, score.contact_id == top.c.contact_id)
        .join(Contact, Contact.id == top.c.contact_id)
        .order_by(top.c.interest.desc(), top.c.contact_id)
    )
    return [
        {"contact_id": row.contact_id, "interest": float(row.interest), "stage": row.stage,
         "source": row.source, "last_activity": row.last_event_at}
        for row in session.execute(query)
    ]  # fmt: skip
