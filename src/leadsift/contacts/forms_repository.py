"""SQL of web forms: contacts by identifier, a new contact, the latest consent, wordings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.contacts.id_floor import next_sqlite_contact_id
from leadsift.contacts.models import ConsentRecord, ConsentWording, Contact
from leadsift.kit.bulk import dialect_insert, is_postgres


def contact_by(
    session: Session, *, email: str | None = None, phone: str | None = None
) -> Contact | None:
    """The contact owning this (normalised) email, or else this phone."""
    column, value = (Contact.email, email) if email is not None else (Contact.phone, phone)
    if value is None:
        return None
    return session.scalars(select(Contact).where(column == value)).one_or_none()


def add_contact(session: Session, values: Mapping[str, Any], now: datetime) -> Contact:
    """Insert a contact (stage and attributes take their defaults) and flush for its id."""
    contact = Contact(**values, created_at=now, updated_at=now)
    if not is_postgres(session):
        contact.id = next_sqlite_contact_id(session)
    session.add(contact)
    session.flush()
    return contact


def latest_consent(
    session: Session, contact_id: int, channels: Sequence[str]
) -> dict[str, tuple[bool, str | None]]:
    """(granted, wording hash) of the latest ledger row per channel, for the channels asked."""
    latest = (
        select(ConsentRecord.channel, func.max(ConsentRecord.id).label("id"))
        .where(ConsentRecord.contact_id == contact_id, ConsentRecord.channel.in_(channels))
        .group_by(ConsentRecord.channel)
        .subquery()
    )
    query = select(ConsentRecord.channel, ConsentRecord.granted, ConsentRecord.wording_hash).join(
        latest, ConsentRecord.id == latest.c.id
    )
    return {channel: (granted, wording) for channel, granted, wording in session.execute(query)}


def save_wording(session: Session, digest: str, text: str, now: datetime) -> None:
    """Store a consent wording under its SHA-256 unless already there (race-safe)."""
    insert = dialect_insert(session)
    session.execute(
        insert(ConsentWording)
        .values(hash=digest, text=text, first_seen_at=now)
        .on_conflict_do_nothing(index_elements=["hash"])
    )


def add_consent_records(session: Session, records: Sequence[ConsentRecord]) -> None:
    """Append rows to the consent ledger."""
    session.add_all(records)
    session.flush()
