"""SQL of the contacts domain outside the import's hot path: batches, look-ups, exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from leadsift.contacts import bulk_repository
from leadsift.contacts.models import (
    AttributeDefinition,
    ConsentRecord,
    Contact,
    ContactChange,
    ImportBatch,
)


def attribute_definitions(session: Session) -> dict[str, AttributeDefinition]:
    """Every custom attribute definition by key."""
    return {d.key: d for d in session.scalars(select(AttributeDefinition))}


def add_batch(session: Session, batch: ImportBatch) -> ImportBatch:
    """Insert a batch row and flush so it has an id (and, on SQLite, the write lock)."""
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, batch_id: int) -> ImportBatch | None:
    """One import batch by id."""
    return session.get(ImportBatch, batch_id)


def later_completed_batches(session: Session, batch_id: int) -> list[int]:
    """Ids of completed batches newer than BATCH_ID."""
    query = select(ImportBatch.id).where(
        ImportBatch.id > batch_id, ImportBatch.status == "completed"
    )
    return list(session.scalars(query))


def changes_of_batch(session: Session, batch_id: int) -> list[tuple[int, dict[str, Any]]]:
    """The (contact id, before values) an import recorded."""
    query = (
        select(ContactChange.contact_id, ContactChange.before)
        .where(ContactChange.batch_id == batch_id)
        .order_by(ContactChange.id.desc())
    )
    return [(row[0], row[1]) for row in session.execute(query)]


def delete_batch_effects(session: Session, batch_id: int) -> tuple[int, int]:
    """Delete the contacts and consent rows a batch created; return (contacts, consent rows)."""
    consent = session.execute(delete(ConsentRecord).where(ConsentRecord.batch_id == batch_id))
    contacts = session.execute(delete(Contact).where(Contact.created_batch_id == batch_id))
    session.execute(
        delete(AttributeDefinition).where(AttributeDefinition.created_batch_id == batch_id)
    )
    return contacts.rowcount, consent.rowcount  # type: ignore[attr-defined]


def find_contact(
    session: Session,
    *,
    contact_id: int | None = None,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
) -> Contact | None:
    """One contact by id, email, phone or external id."""
    if contact_id is not None:
        return session.get(Contact, contact_id)
    for column, value in (
        (Contact.email, email),
        (Contact.phone, phone),
        (Contact.external_id, external_id),
    ):
        if value is not None:
            return session.scalars(select(Contact).where(column == value)).one_or_none()
    return None


def consent_of(session: Session, contact_id: int) -> dict[str, bool]:
    """Current consent per channel for one contact."""
    latest = bulk_repository.current_consent(session, [contact_id])
    return {channel: granted for (_, channel), granted in latest.items()}


def contact_pages(session: Session, page_size: int = 5_000) -> Iterator[list[Contact]]:
    """Every contact in id order, a page at a time (keyset pagination, memory stays flat)."""
    last_id = 0
    while True:
        query = select(Contact).where(Contact.id > last_id).order_by(Contact.id).limit(page_size)
        page = list(session.scalars(query))
        if not page:
            return
        yield page
        last_id = page[-1].id
        session.expunge_all()


def count_contacts(session: Session) -> int:
    """How many contacts the workspace holds."""
    return session.execute(select(func.count()).select_from(Contact)).scalar_one()


def latest_import_mappings(session: Session) -> list[dict[str, str]]:
    """Recorded mappings of completed contact imports, newest first."""
    query = (
        select(ImportBatch.mapping)
        .where(ImportBatch.status == "completed")
        .order_by(ImportBatch.id.desc())
    )
    return [dict(m) for m in session.scalars(query)]
