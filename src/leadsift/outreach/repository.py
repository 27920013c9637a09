"""SQL of consent and suppression: the ledger rows of a contact, the suppressed hashes, and the
facts the gate reads about one contact or about everyone a campaign targets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from leadsift.contacts.models import ConsentRecord, Contact
from leadsift.contacts.repository import latest_consent
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert, is_postgres
from leadsift.kit.sequences import pieces
from leadsift.outreach.models import Suppression
from leadsift.qualification.policy import CONVERSION_EVENTS

_CONSENT = ConsentRecord.__table__.c
_SUPPRESSION = Suppression.__table__.c
_SUPPRESSIONS = cast(Table, Suppression.__table__)
_CONTACTS = Contact.__table__.c
_EVENTS = Event.__table__.c
# Fetched a slice at a time when a campaign reads a million contacts.
STREAM_ROWS = 20_000


def consent_rows(session: Session, contact_id: int) -> list[ConsentRecord]:
    """A contact's whole consent ledger, oldest first."""
    query = select(ConsentRecord).where(ConsentRecord.contact_id == contact_id)
    return list(session.scalars(query.order_by(ConsentRecord.id)))


def add_consent(session: Session, record: ConsentRecord) -> ConsentRecord:
    """Append one ledger row."""
    session.add(record)
    session.flush()
    return record


def suppression_rows(session: Session, hashes: Sequence[str]) -> list[Suppression]:
    """Suppression entries of these identifier hashes, any channel."""
    if not hashes:
        return []
    query = select(Suppression).where(Suppression.identifier_hash.in_(list(hashes)))
    return list(session.scalars(query.order_by(Suppression.id)))


def suppressed_reason(session: Session, hashes: Sequence[str], channel: str) -> str | None:
    """Why one of these identifiers may not be messaged on CHANNEL, or None."""
    if not hashes:
        return None
    query = (
        select(_SUPPRESSION.reason)
        .where(
            _SUPPRESSION.identifier_hash.in_(list(hashes)),
            _SUPPRESSION.channel.in_([channel, "all"]),
        )
        .order_by(_SUPPRESSION.id)
        .limit(1)
    )
    return session.scalar(query)


def suppressed_for(session: Session, channel: str) -> dict[str, str]:
    """Every hash suppressed on CHANNEL (or on all channels), with its reason."""
    query = select(_SUPPRESSION.identifier_hash, _SUPPRESSION.reason).where(
        _SUPPRESSION.channel.in_([channel, "all"])
    )
    return {h: reason for h, reason in session.execute(query)}


def add_suppressions(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert suppression entries; one already there for a hash and channel stays as it was."""
    if not rows:
        return 0
    insert = dialect_insert(session)(Suppression.__table__).values(list(rows))
    statement = insert.on_conflict_do_nothing(index_elements=["identifier_hash", "channel"])
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def lift_suppressions(
    session: Session, hashes: Sequence[str], channel: str, reasons: Sequence[str]
) -> int:
    """Remove the entries of these hashes on CHANNEL whose reason is one of REASONS."""
    statement = _SUPPRESSIONS.delete().where(
        _SUPPRESSION.identifier_hash.in_(list(hashes)),
        _SUPPRESSION.channel == channel,
        _SUPPRESSION.reason.in_(list(reasons)),
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def target_facts(
    session: Session, condition: Any, channel: str, purpose: str = "marketing"
) -> Iterator[Sequence[Sequence[Any]]]:
    """(id, email, phone, consent, last purchase, language) of every contact CONDITION selects,
    in id order, a slice at a time: the latest consent and the last purchase as two grouped
    passes joined to the contacts rather than a correlated look-up per contact."""
    consent = latest_consent(channel, purpose)
    purchases = (
        select(_EVENTS.contact_id, func.max(_EVENTS.occurred_at).label("at"))
        .where(_EVENTS.type.in_(list(CONVERSION_EVENTS)), _EVENTS.contact_id.is_not(None))
        .group_by(_EVENTS.contact_id)
        .subquery()
    )
    contacts = Contact.__table__
    query = (
        select(
            _CONTACTS.id,
            _CONTACTS.email,
            _CONTACTS.phone,
            consent.c.granted,
            purchases.c.at,
            _CONTACTS.attrs["language"].as_string(),
        )
        .select_from(
            contacts.outerjoin(consent, consent.c.contact_id == _CONTACTS.id).outerjoin(
                purchases, purchases.c.contact_id == _CONTACTS.id
            )
        )
        .order_by(_CONTACTS.id)
    )
    if condition is not None:
        query = query.where(condition)
    if is_postgres(session):
        # Read to the end through a cursor: tell the planner so (its default, a fast first 10 %,
        # picks nested loops that take minutes over a million contacts), on fresh statistics
        # (a bulk import leaves the planner guessing a few thousand rows).
        session.execute(text("ANALYZE contacts, consent_records"))
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
    result = session.execute(query.execution_options(yield_per=STREAM_ROWS))
    yield from (list(part) for part in result.partitions())


def one_contact_facts(
    session: Session, contact_id: int, channel: str, purpose: str = "marketing"
) -> Sequence[Any] | None:
    """The `target_facts` row of one contact, by look-ups on its own rows (the grouped passes
    of target_facts read every contact's consent and purchases: seconds at a million)."""
    granted = (
        select(ConsentRecord.granted)
        .where(
            ConsentRecord.contact_id == contact_id,
            ConsentRecord.channel == channel,
            ConsentRecord.purpose == purpose,
        )
        .order_by(ConsentRecord.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    bought = (
        select(func.max(_EVENTS.occurred_at))
        .where(_EVENTS.contact_id == contact_id, _EVENTS.type.in_(list(CONVERSION_EVENTS)))
        .scalar_subquery()
    )
    query = select(
        _CONTACTS.id,
        _CONTACTS.email,
        _CONTACTS.phone,
        granted,
        bought,
        _CONTACTS.attrs["language"].as_string(),
    ).where(_CONTACTS.id == contact_id)
    return session.execute(query).first()


def contact_row(session: Session, contact_id: int) -> dict[str, Any] | None:
    """One contact's columns as a mapping (what a template reads)."""
    row = session.execute(select(Contact.__table__).where(_CONTACTS.id == contact_id)).mappings()
    found = row.first()
    return dict(found) if found is not None else None


def contact_identifiers(session: Session, contact_ids: Sequence[int]) -> dict[int, tuple[Any, Any]]:
    """(email, phone) of each contact."""
    found: dict[int, tuple[Any, Any]] = {}
    for piece in pieces(list(contact_ids)):
        query = select(_CONTACTS.id, _CONTACTS.email, _CONTACTS.phone).where(
            _CONTACTS.id.in_(piece)
        )
        found.update({cid: (email, phone) for cid, email, phone in session.execute(query)})
    return found


def contacts_with_phone(session: Session, phone: str) -> list[int]:
    """The contacts whose phone is this E.164 number."""
    return list(session.scalars(select(_CONTACTS.id).where(_CONTACTS.phone == phone)))
