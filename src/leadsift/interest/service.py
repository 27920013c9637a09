"""Scoring a workspace: interest stored for some contacts (as events arrive) or for everyone."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from leadsift.engagement import repository as events_repository
from leadsift.interest import repository
from leadsift.interest.decay import InterestBreakdown, InterestModel, breakdown


def rescore(
    session: Session,
    model: InterestModel | None,
    now: datetime,
    contact_ids: Collection[int] | None = None,
) -> None:
    """Store the interest at NOW of CONTACT_IDS (of every contact when None)."""
    ids = None if contact_ids is None else sorted(contact_ids)
    if ids is not None and not ids:
        return
    repository.write_interest(session, model, now, ids)


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
