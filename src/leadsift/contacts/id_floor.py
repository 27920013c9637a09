"""Contact ids are never reused (SQLite): the next id is above every id ever given."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact, ContactIdFloor
from leadsift.kit.bulk import dialect_insert, is_postgres

_NAME = "contacts"


def next_sqlite_contact_id(session: Session) -> int:
    """The id the next new contact gets on SQLite: above max(id) and above the floor."""
    highest = session.scalar(select(func.coalesce(func.max(Contact.id), 0))) or 0
    floor = session.scalar(select(ContactIdFloor.value).where(ContactIdFloor.name == _NAME)) or 0
    return max(int(highest), int(floor)) + 1


def raise_floor(session: Session) -> None:
    """Before contacts are deleted: remember the highest id given (no-op on PostgreSQL)."""
    if is_postgres(session):
        return
    highest = int(session.scalar(select(func.coalesce(func.max(Contact.id), 0))) or 0)
    statement = dialect_insert(session)(ContactIdFloor.__table__).values(name=_NAME, value=highest)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"value": func.max(ContactIdFloor.__table__.c.value, statement.excluded.value)},
    )
    session.execute(statement)
