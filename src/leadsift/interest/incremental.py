"""SQL of `leadsift score`'s incremental interest: the stored sums decayed to the scoring moment,
the contacts whose sums no longer just decay, and how far the sums have taken the event log in.

A contact is computed from its events again (see `interest.sums`) when it has events after the
state's event id (recorded since the last run, whether or not their rescoring ran), or when its
row is marked (`sums_epoch` NULL: events stitched to it), was stored under another interest
model, holds an event dated after its sums' moment or one past the 1,000-half-life cut-off now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Float, Table, and_, delete, exists, func, literal, select, update
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact, ContactScore
from leadsift.engagement.models import Event
from leadsift.interest.decay import FORGOTTEN_AFTER_HALF_LIVES, InterestModel
from leadsift.interest.models import InterestState
from leadsift.interest.sums import decayed_interest
from leadsift.kit.bulk import dialect_insert, is_postgres

_SCORES = cast(Table, ContactScore.__table__)
_STATE = cast(Table, InterestState.__table__)
_STATE_ID: Final = 1
# On PostgreSQL an event id counts as taken in only once no earlier id can still commit (the
# analytics rollups' rule): ids are handed out before their transactions commit.
SETTLE: Final = timedelta(minutes=1)


def state(session: Session) -> tuple[int, int] | None:
    """(model key, event id) of the last run, if any."""
    row = session.execute(select(_STATE.c.model_key, _STATE.c.event_id)).first()
    return (int(row[0]), int(row[1])) if row is not None else None


def save_state(session: Session, key: int, event_id: int, now: datetime) -> None:
    """Record the model and the event id the stored sums now take in."""
    values = {"id": _STATE_ID, "model_key": key, "event_id": event_id, "scored_at": now}
    statement = dialect_insert(session)(_STATE).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["id"], set_={name: statement.excluded[name] for name in values}
    )
    session.execute(statement)


def forget_state(session: Session) -> None:
    """The next run computes everyone from the events (no model, or sums not stored)."""
    session.execute(delete(_STATE))


def settled_event_id(session: Session, now: datetime) -> int:
    """The highest event id no earlier id can still join (every id on SQLite)."""
    query = select(func.max(Event.id))
    if is_postgres(session):
        query = query.where(Event.received_at < now - SETTLE)
    return int(session.execute(query).scalar() or 0)


def _forgotten(model: InterestModel, now: datetime) -> datetime | None:
    """Events dated at or before this count for nothing at NOW (None: no date is that old)."""
    try:
        return now - model.half_life * FORGOTTEN_AFTER_HALF_LIVES
    except OverflowError:
        return None


def _clean(model: InterestModel, key: int, now: datetime) -> Any:
    """Rows whose sums decay to the interest at NOW (every other row is computed again)."""
    scores = _SCORES.c
    condition = and_(
        scores.model_key == key,
        scores.sums_epoch <= literal(now.timestamp(), Float()),
        scores.newest_epoch <= scores.sums_epoch,
    )
    forgotten = _forgotten(model, now)
    if forgotten is not None:
        after = literal(forgotten.timestamp(), Float())
        condition = and_(condition, scores.oldest_epoch > after)
    return condition


def dirty_contacts(
    session: Session, model: InterestModel, key: int, now: datetime, after_event_id: int
) -> set[int]:
    """Contacts to compute from their events: events after AFTER_EVENT_ID, or a row that is
    marked, of another model, or not clean at NOW."""
    recorded = (
        select(Event.contact_id)
        .where(
            Event.id > after_event_id,
            Event.contact_id.is_not(None),
            Event.type.in_(model.event_types()),
        )
        .distinct()
    )
    found = {int(contact_id) for contact_id in session.scalars(recorded) if contact_id}
    # NULLs compare as unknown: a row with any of these missing is not clean.
    clean = func.coalesce(_clean(model, key, now), False)
    stale = select(_SCORES.c.contact_id).where(~clean)
    found.update(int(contact_id) for contact_id in session.scalars(stale))
    return found


def drop_orphans(session: Session) -> None:
    """Remove the rows of contacts deleted since (`contact_scores` has no foreign key)."""
    contacts = Contact.__table__
    gone = ~exists().where(contacts.c.id == _SCORES.c.contact_id)
    session.execute(delete(_SCORES).where(gone))


def decay_stored(session: Session, model: InterestModel, key: int, now: datetime) -> None:
    """Every clean row's interest at NOW from its stored sums (the sums stay as of sums_epoch)."""
    statement = (
        update(_SCORES)
        .where(func.coalesce(_clean(model, key, now), False))
        .values(
            interest=decayed_interest(model, now, _SCORES),
            scored_at=literal(now, _SCORES.c.scored_at.type),
        )
    )
    session.connection().execute(statement)
