"""Keep the rollups up to date: a pass reads what was written since the last one (idempotent,
resumable: an interrupted pass is simply done again); services flush, entrypoints commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import rollup_repository as sql
from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.kit.bulk import is_postgres
from leadsift.qualification.models import StageChange

# On PostgreSQL a cursor moves past a row only once no earlier id can still commit.
SETTLE: Final = timedelta(minutes=1)
_Step = Callable[[Session, int], None]
# (cursor, the source's id and write time, what reads the rows past the cursor)
_SOURCES: Final[tuple[tuple[str, Any, Any, tuple[_Step, ...]], ...]] = (
    ("contacts", Contact.id, Contact.created_at, (sql.add_new_contacts,)),
    ("stage_changes", StageChange.id, StageChange.changed_at, (sql.refresh_stages,)),
    ("touches", Event.id, Event.received_at, (sql.refresh_entries, sql.refresh_touches)),
)


def settled_id(session: Session, id_column: Any, written: Any, now: datetime) -> int:
    """The highest id no earlier id can still join (every id on SQLite)."""
    if not is_postgres(session):
        return sql.max_id(session, id_column)
    return sql.max_id(session, id_column, written < now - SETTLE)


def prepare(session: Session) -> None:
    """Report queries are planned, not compiled: PostgreSQL's JIT cost more than it saved."""
    if is_postgres(session):
        sql.without_jit(session)


def refresh(session: Session, now: datetime) -> dict[str, int]:
    """Bring every rollup up to date; the last id each has taken in."""
    prepare(session)
    last = {}
    for name, id_column, written, steps in _SOURCES:
        start = sql.cursor(session, name)
        if sql.max_id(session, id_column) > start:
            for step in steps:
                step(session, start)
        last[name] = max(start, settled_id(session, id_column, written, now))
        if last[name] > start:
            sql.move_cursor(session, name, last[name], now)
    settled = settled_id(session, Event.id, Event.received_at, now)
    start = sql.cursor(session, "event_days")
    if settled > start:
        sql.add_event_days(session, start, settled)
        sql.move_cursor(session, "event_days", settled, now)
    last["event_days"] = max(settled, start)
    session.flush()
    return last
