"""Scoring a workspace: interest stored for some contacts (as events arrive) or for everyone."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from leadsift.engagement import repository as events_repository
from leadsift.interest import incremental, repository
from leadsift.interest.decay import InterestBreakdown, InterestModel, breakdown
from leadsift.interest.sums import model_key, storable

# Above this many contacts to compute from their events, one pass over every event is cheaper
# than their look-ups (a full pass: ~6 s for 5M events).
FULL_PASS_ABOVE = 100_000


def rescore(
    session: Session,
    model: InterestModel | None,
    now: datetime,
    contact_ids: Collection[int] | None = None,
) -> None:
    """Store the interest at NOW of CONTACT_IDS (of every contact when None)."""
    if contact_ids is None:
        _rescore_everyone(session, model, now)
        return
    if contact_ids:
        repository.write_interest(session, model, now, sorted(contact_ids))


def _rescore_everyone(session: Session, model: InterestModel | None, now: datetime) -> None:
    """Everyone's interest at NOW: the stored sums decayed and the contacts whose events changed
    computed again when the last run stored sums under this model (and few changed); else
    everyone computed from the events."""
    if model is None or not model.rules or not storable(model):
        repository.write_interest(session, model, now, None)
        incremental.forget_state(session)
        return
    key = model_key(model)
    settled = incremental.settled_event_id(session, now)  # before reading what changed
    last = incremental.state(session)
    dirty = None
    if last is not None and last[0] == key:
        repository.prepare_bulk(session)
        dirty = incremental.dirty_contacts(session, model, key, now, last[1])
    if dirty is None or len(dirty) > FULL_PASS_ABOVE:
        repository.write_interest(session, model, now, None)
    else:
        incremental.drop_orphans(session)
        incremental.decay_stored(session, model, key, now)
        repository.write_interest(session, model, now, sorted(dirty))
    incremental.save_state(session, key, settled, now)


def explain_interest(
    session: Session, model: InterestModel, contact_ids: Collection[int], now: datetime
) -> dict[int, InterestBreakdown]:
    """The interest of each contact at NOW, rule by rule and event by event."""
    # Rows, not ORM objects: a bulk run explains thousands of promotions at once.
    events = events_repository.event_rows(session, sorted(contact_ids), model.event_types())
    return {contact_id: breakdown(model, found, now) for contact_id, found in events.items()}


def scored_count(session: Session) -> int:
    """How many contacts have a stored interest."""
    return repository.count_scores(session)
