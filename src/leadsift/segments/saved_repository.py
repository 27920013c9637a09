"""SQL of saved segments: look-ups by name, the race-safe insert, deletion."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.kit.bulk import dialect_insert
from leadsift.segments.models import SavedSegment


def segments(session: Session) -> list[SavedSegment]:
    """Every saved segment, by name."""
    return list(session.scalars(select(SavedSegment).order_by(SavedSegment.name)))


def segment_by_name(session: Session, name: str, *, lock: bool = False) -> SavedSegment | None:
    """The segment called NAME (a handle), locked for an update when LOCK (PostgreSQL)."""
    query = select(SavedSegment).where(SavedSegment.name == name)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def insert_new(
    session: Session,
    *,
    name: str,
    expression: str,
    description: str | None,
    actor: str,
    now: datetime,
) -> int | None:
    """Insert a segment called NAME unless one exists; its id, or None when the name is taken
    (also by a concurrent transaction: ON CONFLICT, never a unique-index error)."""
    row = {"name": name, "expression": expression, "description": description,
           "created_by": actor, "created_at": now, "updated_at": now}  # fmt: skip
    statement = (
        dialect_insert(session)(SavedSegment)
        .values(row)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(SavedSegment.id)
    )
    return session.scalars(statement).first()


def remove(session: Session, segment: SavedSegment) -> None:
    """Delete a segment (nothing else refers to it)."""
    session.delete(segment)
    session.flush()
