"""SQL of advertising audiences: the contacts a criteria expression selects with their latest
ad_audience consent, streamed; the log of audiences handed out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.contacts.repository import latest_consent
from leadsift.kit.bulk import is_postgres
from leadsift.outreach.models import AudienceExport

_CONTACTS = Contact.__table__.c
AD_AUDIENCE = "ad_audience"
# Fetched a slice at a time: an audience may be a million contacts.
STREAM_ROWS = 20_000


def audience_facts(
    session: Session, condition: Any, purpose: str = "marketing"
) -> Iterator[Sequence[Sequence[Any]]]:
    """(id, email, phone, latest ad_audience consent or None) of every contact CONDITION
    selects, in id order, a slice at a time: the latest consent is one grouped pass joined to
    the contacts, not a look-up per contact."""
    consent = latest_consent(AD_AUDIENCE, purpose)
    query = (
        select(_CONTACTS.id, _CONTACTS.email, _CONTACTS.phone, consent.c.granted)
        .select_from(Contact.__table__.outerjoin(consent, consent.c.contact_id == _CONTACTS.id))
        .order_by(_CONTACTS.id)
    )
    if condition is not None:
        query = query.where(condition)
    if is_postgres(session):
        # Read to the end through a cursor (as a campaign's target is): tell the planner so, on
        # fresh statistics, or it picks nested loops that take minutes over a million contacts.
        session.execute(text("ANALYZE contacts, consent_records"))
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
    result = session.execute(query.execution_options(yield_per=STREAM_ROWS))
    yield from (list(part) for part in result.partitions())


def add_export(session: Session, export: AudienceExport) -> AudienceExport:
    """Store one audience export (flushed, so it has its id)."""
    session.add(export)
    session.flush()
    return export


def recent_exports(session: Session, limit: int) -> list[AudienceExport]:
    """The latest LIMIT audience exports, newest first."""
    query = select(AudienceExport).order_by(AudienceExport.id.desc()).limit(limit)
    return list(session.scalars(query))
