"""SQL of each contact's activity (last event, ever bought) and of the remarketing report that
reads it with the interest scores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from leadsift.analytics.models import ContactActivity
from leadsift.analytics.rollup_repository import CONVERSION_TYPES
from leadsift.contacts.models import Contact, ContactScore
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert


def add_activity(session: Session, after_id: int, up_to_id: int) -> None:
    """Take the events in (AFTER_ID, UP_TO_ID] into their contacts' last event and purchase
    flag (both only move forward: taking an event twice changes nothing)."""
    bought = func.max(case((Event.type.in_(CONVERSION_TYPES), 1), else_=0)) > 0
    grouped = (
        select(Event.contact_id, func.max(Event.occurred_at), bought)
        .where(Event.id > after_id, Event.id <= up_to_id, Event.contact_id.is_not(None))
        .group_by(Event.contact_id)
    )
    insert = dialect_insert(session)(ContactActivity)
    statement = insert.from_select(["contact_id", "last_event_at", "bought"], grouped)
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


def _interested_without_purchase(threshold: float) -> Any:
    return and_(ContactScore.interest >= threshold, ContactActivity.bought.is_not(True))


def interest_counts(
    session: Session, threshold: float, edges: Sequence[datetime]
) -> tuple[int, list[int], int]:
    """Contacts with interest at least THRESHOLD who never bought: how many, how many active
    since each of EDGES, and how many with any event."""
    query = (
        select(
            func.count(),
            *(func.count(case((ContactActivity.last_event_at >= edge, 1))) for edge in edges),
            func.count(ContactActivity.last_event_at),
        )
        .select_from(ContactScore)
        .outerjoin(ContactActivity, ContactActivity.contact_id == ContactScore.contact_id)
        .where(_interested_without_purchase(threshold))
    )
    total, *since, active = session.execute(query).one()
    return int(total), [int(n) for n in since], int(active)


def most_interested(session: Session, threshold: float, limit: int) -> list[dict[str, Any]]:
    """The LIMIT contacts with the highest interest (at least THRESHOLD) who never bought,
    highest first: read down the scores a batch at a time, only those batches looked up."""
    found: list[dict[str, Any]] = []
    batch = max(4 * limit, 200)
    after: Any = None
    while len(found) < limit:
        scores = select(ContactScore.contact_id, ContactScore.interest).where(
            ContactScore.interest >= threshold
        )
        if after is not None:
            scores = scores.where(
                or_(
                    ContactScore.interest < after.interest,
                    and_(ContactScore.interest == after.interest,
                         ContactScore.contact_id > after.contact_id),
                )
            )  # fmt: skip
        order = (ContactScore.interest.desc(), ContactScore.contact_id)
        page = session.execute(scores.order_by(*order).limit(batch)).all()
        details = {
            row.id: row
            for row in session.execute(
                select(Contact.id, Contact.stage, Contact.source, ContactActivity.last_event_at,
                       ContactActivity.bought)
                .outerjoin(ContactActivity, ContactActivity.contact_id == Contact.id)
                .where(Contact.id.in_([r.contact_id for r in page]))
            )
        }  # fmt: skip
        for contact_id, interest in page:
            person = details.get(contact_id)
            if person is not None and not person.bought:
                found.append({"contact_id": contact_id, "interest": float(interest),
                              "stage": person.stage, "source": person.source,
                              "last_activity": person.last_event_at})  # fmt: skip
        if len(page) < batch:
            break
        after = page[-1]
    return found[:limit]
