"""SQL of the event log: contact look-ups, de-duplication, inserts, stitching, timelines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from leadsift.contacts.models import ContactScore
from leadsift.engagement import bulk_repository as bulk
from leadsift.engagement.models import Event, TrackedLink, VisitorLink
from leadsift.kit.bulk import dialect_insert, is_postgres
from leadsift.kit.clock import utcnow
from leadsift.kit.sequences import pieces

# Core columns, not ORM attributes: this runs for every group of API requests, and an ORM
# select costs several times more Python than the query itself.
_LINKS = VisitorLink.__table__.c
_SCORES = cast(Table, ContactScore.__table__)


def contact_ids_by(session: Session, kind: str, values: Sequence[Any]) -> dict[Any, int]:
    """Contact ids by the value of one identifier (id, email, phone or external id); driver-level
    SQL at any size (one round trip either way, and less Python than an ORM statement)."""
    return bulk.contact_ids_by(session, kind, values) if values else {}


def linked_contacts(session: Session, anonymous_ids: Sequence[str]) -> dict[str, int]:
    """The contact each anonymous visitor id is known to belong to."""
    found: dict[str, int] = {}
    for piece in pieces(list(anonymous_ids)):
        query = select(_LINKS.anonymous_id, _LINKS.contact_id).where(_LINKS.anonymous_id.in_(piece))
        found.update({aid: contact_id for aid, contact_id in session.execute(query)})
    return found


def stored_payloads(session: Session, dedup_keys: Sequence[bytes]) -> dict[bytes, bytes]:
    """The payload hash stored under each dedup key that is already taken."""
    return bulk.stored_payloads(session, dedup_keys) if dedup_keys else {}


def insert_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[bytes]:
    """Insert events, skipping keys stored meanwhile; return the dedup keys inserted."""
    if not rows:
        return set()
    if is_postgres(session) and len(rows) < bulk.BULK_ROWS:
        return bulk.insert_few_events(session, rows)
    return bulk.insert_events(session, rows)


def link_visitor(
    session: Session, anonymous_id: str, contact_id: int, via: str, at: datetime
) -> int | None:
    """Link ANONYMOUS_ID to CONTACT_ID; return the other contact it was linked to, if any."""
    link = session.get(VisitorLink, anonymous_id)
    if link is None:
        session.add(
            VisitorLink(anonymous_id=anonymous_id, contact_id=contact_id, via=via, linked_at=at)
        )
        session.flush()
        return None
    previous = link.contact_id
    # A shared browser: later visits belong to whoever identified last; past events stay put.
    link.contact_id, link.via, link.linked_at = contact_id, via, at
    session.flush()
    return previous if previous != contact_id else None


def stitch(session: Session, anonymous_id: str, contact_id: int) -> int:
    """Give the visitor's events that belong to nobody to the contact; return how many."""
    statement = (
        update(Event)
        .where(Event.anonymous_id == anonymous_id, Event.contact_id.is_(None))
        .values(contact_id=contact_id)
        .execution_options(synchronize_session=False)
    )
    stitched: int = session.execute(statement).rowcount  # type: ignore[attr-defined]
    if stitched:
        _mark_for_rescoring(session, contact_id)
    return stitched


def _mark_for_rescoring(session: Session, contact_id: int) -> None:
    """Mark the contact's stored interest sums as no longer holding, in the transaction that
    gave it events (their ids are old: `leadsift score` would not see them as new): the next
    run computes it from its events, whether or not a rescoring follows this one."""
    statement = dialect_insert(session)(_SCORES).values(
        contact_id=contact_id, interest=0.0, scored_at=utcnow(), sums_epoch=None
    )
    session.execute(
        statement.on_conflict_do_update(index_elements=["contact_id"], set_={"sums_epoch": None})
    )


def timeline(
    session: Session, contact_id: int, limit: int | None = None, *, event_type: str | None = None
) -> list[Event]:
    """A contact's events (of EVENT_TYPE when given), oldest first (the newest LIMIT)."""
    query = (
        select(Event)
        .where(Event.contact_id == contact_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
    )
    if event_type is not None:
        query = query.where(Event.type == event_type)
    if limit is not None:
        query = query.limit(limit)
    return list(reversed(list(session.scalars(query))))


def event_rows(
    session: Session,
    contact_ids: Sequence[int],
    types: Sequence[str],
    since: datetime | None = None,
) -> dict[int, list[Mapping[str, Any]]]:
    """The events of these contacts and TYPES (since a time when given), oldest first, by
    contact, as rows (their keys are the column names): thousands of contacts are explained at
    once in a bulk run, and rows cost a fraction of ORM objects."""
    table = Event.__table__
    found: dict[int, list[Mapping[str, Any]]] = {contact_id: [] for contact_id in contact_ids}
    for piece in pieces(list(contact_ids)):
        query = select(table).where(table.c.contact_id.in_(piece), table.c.type.in_(list(types)))
        if since is not None:
            query = query.where(table.c.occurred_at >= since)
        ordered = query.order_by(table.c.occurred_at, table.c.id)
        for row in session.connection().execute(ordered).mappings():
            found[row["contact_id"]].append(cast(Mapping[str, Any], row))
    return found


def tracked_link(session: Session, link_id: int) -> TrackedLink | None:
    """One registered campaign link by id."""
    return session.get(TrackedLink, link_id)


def find_tracked_link(session: Session, campaign: str, url: str) -> TrackedLink | None:
    """The registered link for a campaign and URL, if any."""
    query = select(TrackedLink).where(TrackedLink.campaign == campaign, TrackedLink.url == url)
    return session.scalars(query).first()


def add_tracked_link(session: Session, link: TrackedLink) -> TrackedLink:
    """Register a campaign link and flush so it has an id."""
    session.add(link)
    session.flush()
    return link
