"""SQL of the contacts domain outside the import's hot path: batches, look-ups, exports."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Subquery, delete, func, select
from sqlalchemy.orm import Session

from leadsift.contacts import bulk_repository
from leadsift.contacts.id_floor import raise_floor
from leadsift.contacts.models import (
    AttributeDefinition,
    ConsentRecord,
    Contact,
    ContactChange,
    ContactPrediction,
    ContactScore,
    ImportBatch,
)
from leadsift.criteria import Moment
from leadsift.criteria.checker import CheckedAggregate
from leadsift.criteria.fields import FieldSpec
from leadsift.kit.sqljson import bigint_of


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
    raise_floor(session)  # the undone contacts' ids are never given to anyone else
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


def scores_of(session: Session, contact_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Stored scores by contact id (contacts never scored are absent)."""
    found: dict[int, dict[str, Any]] = {}
    query = select(ContactScore).where(ContactScore.contact_id.in_(contact_ids))
    for row in session.scalars(query):
        found[row.contact_id] = {"interest": row.interest, "scored_at": row.scored_at}
    predicted = select(ContactPrediction).where(ContactPrediction.contact_id.in_(contact_ids))
    for prediction in session.scalars(predicted):
        found.setdefault(prediction.contact_id, {}).update(
            probability=prediction.probability,
            priority=prediction.priority,
            model_id=prediction.model_id,
            predicted_at=prediction.predicted_at,
        )
    return found


def contact_pages(
    session: Session,
    page_size: int = 5_000,
    where: ColumnElement[bool] | None = None,
    limit: int | None = None,
) -> Iterator[list[Contact]]:
    """Contacts in id order (those matching WHERE), a page at a time; memory stays flat."""
    last_id = 0
    remaining = limit
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        query = select(Contact).where(Contact.id > last_id).order_by(Contact.id).limit(size)
        if where is not None:
            query = query.where(where)
        page = list(session.scalars(query))
        if not page:
            return
        yield page
        last_id = page[-1].id
        if remaining is not None:
            remaining -= len(page)
        session.expunge_all()


def ordered_contact_pages(
    session: Session,
    order: ColumnElement[Any],
    *,
    descending: bool,
    where: ColumnElement[bool] | None = None,
    limit: int | None = None,
    page_size: int = 5_000,
) -> Iterator[list[Contact]]:
    """Contacts sorted by ORDER (unknown values last, then by id), a page at a time."""
    key = order.desc() if descending else order.asc()
    query = select(Contact).order_by(key.nulls_last(), Contact.id)
    if where is not None:
        query = query.where(where)
    if limit is not None:
        query = query.limit(limit)
    result = session.scalars(query.execution_options(yield_per=page_size))
    for page in result.partitions():
        yield list(page)
        session.expunge_all()


def batch_contact_ids(session: Session, batch_id: int) -> list[int]:
    """The contacts an import batch created or changed."""
    created = select(Contact.id).where(Contact.created_batch_id == batch_id)
    changed = select(ContactChange.contact_id).where(ContactChange.batch_id == batch_id)
    return sorted(set(session.scalars(created)) | set(session.scalars(changed)))


def count_contacts(session: Session, where: ColumnElement[bool] | None = None) -> int:
    """How many contacts the workspace holds (those matching WHERE when given)."""
    query = select(func.count()).select_from(Contact)
    if where is not None:
        query = query.where(where)
    return session.execute(query).scalar_one()


# JSON values read with their attribute's type (dates are ISO text, compared as text).
# Integers are 64-bit (`bigint_of`): the import infers `integer` for up to 18 digits.
_ATTRIBUTE_ACCESSORS = {"number": "as_float", "boolean": "as_boolean"}


class ContactSqlFields:
    """How criteria fields read a contact row in SQL (the criteria language's `SqlFields`)."""

    def __init__(self) -> None:
        self.table = Contact.__table__

    def value(self, spec: FieldSpec) -> ColumnElement[Any]:
        """The SQL value of a column, custom attribute or current consent."""
        if spec.kind == "column":
            return self.table.c[spec.key]
        if spec.kind == "attribute":
            item: Any = self.table.c.attrs[spec.key]
            if spec.value_type == "integer":
                return bigint_of(item.as_string())
            accessor = _ATTRIBUTE_ACCESSORS.get(spec.value_type, "as_string")
            typed: ColumnElement[Any] = getattr(item, accessor)()
            return typed
        if spec.kind == "consent":
            return _latest_consent(self.table.c.id, spec.key)
        if spec.kind == "score":
            return _score(self.table.c.id, spec.key)
        if spec.kind == "prediction":
            return _prediction(self.table.c.id, spec.key)
        raise ValueError(f"no SQL value for {spec.name}")

    def birth_date(self) -> ColumnElement[Any]:
        """The birth date column."""
        return self.table.c.birth_date

    def imported_age(self) -> ColumnElement[Any]:
        """The age as imported."""
        return self.table.c.age

    def aggregate(self, aggregate: CheckedAggregate, moment: Moment) -> ColumnElement[Any]:
        """Event aggregates are read by the segments' fields, which know the event log."""
        raise ValueError(f"no events here for {aggregate.spec.name}")


def _score(contact_id: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """A stored score of the contact (`interest`), zero when never scored."""
    stored = (
        select(ContactScore.__table__.c[name])
        .where(ContactScore.contact_id == contact_id)
        .scalar_subquery()
        .correlate_except(ContactScore)
    )
    return func.coalesce(stored, 0.0)


def _prediction(contact_id: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """The contact's `probability` or `priority` under the active model, null when never scored."""
    return (
        select(ContactPrediction.__table__.c[name])
        .where(ContactPrediction.contact_id == contact_id)
        .scalar_subquery()
        .correlate_except(ContactPrediction)
    )


def _latest_consent(contact_id: ColumnElement[Any], channel: str) -> ColumnElement[Any]:
    """The newest ledger row's answer for a channel (append-only ledger; latest wins)."""
    return (
        select(ConsentRecord.granted)
        .where(
            ConsentRecord.contact_id == contact_id,
            ConsentRecord.channel == channel,
            ConsentRecord.purpose == "marketing",
        )
        .order_by(ConsentRecord.id.desc())
        .limit(1)
        .scalar_subquery()
        .correlate_except(ConsentRecord)
    )


def latest_import_mappings(session: Session) -> list[dict[str, str]]:
    """Recorded mappings of completed contact imports, newest first."""
    query = (
        select(ImportBatch.mapping)
        .where(ImportBatch.status == "completed")
        .order_by(ImportBatch.id.desc())
    )
    return [dict(m) for m in session.scalars(query)]


def latest_consent(channel: str, purpose: str = "marketing") -> Subquery:
    """(contact_id, granted) of each contact's latest consent word on CHANNEL for PURPOSE: one
    grouped pass, to join to the contacts rather than a look-up per contact."""
    latest_ids = (
        select(func.max(ConsentRecord.id).label("id"))
        .where(ConsentRecord.channel == channel, ConsentRecord.purpose == purpose)
        .group_by(ConsentRecord.contact_id)
        .subquery()
    )
    return (
        select(ConsentRecord.contact_id, ConsentRecord.granted)
        .join(latest_ids, latest_ids.c.id == ConsentRecord.id)
        .subquery()
    )
