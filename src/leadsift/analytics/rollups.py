"""Keep the rollups up to date: a pass reads what was written since the last one (idempotent,
resumable: an interrupted pass is simply done again); services flush, entrypoints commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from leadsift.analytics import rollup_repository as sql
from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.kit.bulk import is_postgres
from leadsift.qualification.models import StageChange

# On PostgreSQL an event id is summed only once no earlier id can still commit.
SETTLE: Final = timedelta(minutes=1)


def refresh(session: Session, now: datetime) -> dict[str, int]:
    """Bring every rollup up to date; the last id each has taken in."""
    last = {}
    start = sql.cursor(session, "contacts")
    sql.add_new_contacts(session, max(start - sql.MARGIN, 0))
    last["contacts"] = sql.max_id(session, Contact.id)
    start = sql.cursor(session, "stage_changes")
    sql.refresh_stages(session, max(start - sql.MARGIN, 0))
    last["stage_changes"] = sql.max_id(session, StageChange.id)
    start = sql.cursor(session, "touches")
    sql.refresh_entries(session, max(start - sql.MARGIN, 0))
    sql.refresh_touches(session, max(start - sql.MARGIN, 0))
    last["touches"] = sql.max_id(session, Event.id)
    for name, value in last.items():
        sql.move_cursor(session, name, value, now)
    settled = (
        sql.max_id(session, Event.id, Event.received_at < now - SETTLE)
        if is_postgres(session)
        else last["touches"]
    )
    start = sql.cursor(session, "event_days")
    if settled > start:
        sql.add_event_days(session, start, settled)
        sql.move_cursor(session, "event_days", settled, now)
    last["event_days"] = max(settled, start)
    session.flush()
    return last
