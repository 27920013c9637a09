"""SQL of the demo: the workspace's contacts in id order, and the first of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact


def contact_ids(session: Session) -> list[int]:
    """Every contact's id, in id order (import order for one import)."""
    return list(session.scalars(select(Contact.id).order_by(Contact.id)))


def first_contact(session: Session) -> tuple[int, datetime] | None:
    """The id and creation time of the workspace's first contact (lowest id), if any."""
    query = select(Contact.id, Contact.created_at).order_by(Contact.id).limit(1)
    row = session.execute(query).first()
    return (row.id, row.created_at) if row is not None else None
