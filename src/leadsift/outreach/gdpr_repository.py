"""SQL of the rights of the people contacted: everything stored about a contact (to export it),
deleting it from every table (to erase it), and finding prospects past the retention delay."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner
from leadsift.contacts.id_floor import raise_floor
from leadsift.contacts.models import (
    ConsentRecord,
    Contact,
    ContactChange,
    ContactPrediction,
    ContactScore,
    ImportRejection,
)
from leadsift.engagement.models import Event, VisitorLink
from leadsift.kit.orm import Base
from leadsift.kit.sequences import pieces
from leadsift.outreach.models import DataRequest, OutboxMessage, PromoCode
from leadsift.qualification.models import ContactEvaluation, StageChange

# Tables with one row set per contact, deleted by contact id (events last: visitor links name
# anonymous ids whose events go too).
_BY_CONTACT: tuple[Any, ...] = (
    ConsentRecord, ContactChange, ContactEvaluation, ContactPrediction, ContactScore,
    StageChange, OutboxMessage,
)  # fmt: skip
_EXPORTED: dict[str, Any] = {
    "consents": ConsentRecord,
    "stages": StageChange,
    "events": Event,
    "messages": OutboxMessage,
    "codes": PromoCode,
    "evaluations": ContactEvaluation,
    "scores": ContactScore,
    "predictions": ContactPrediction,
    "visitor_links": VisitorLink,
    "owner": ContactOwner,
}
# The agents and analytics domains sit above this one: their tables are found by name in
# the shared metadata rather than imported. Erasure removes their rows by ON DELETE CASCADE.
_EXPORTED_BY_NAME: dict[str, str] = {
    "calls": "touches",
    "call_state": "call_states",
    "funnel": "funnel_facts",
    "attribution": "attribution_credits",
    "activity": "contact_activity",
}


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _plain(row: Any) -> dict[str, Any]:
    # Binary columns (an event's dedup key and payload hash) as hex: the export is JSON.
    return {
        key: value.hex() if isinstance(value, bytes | memoryview) else value
        for key, value in row._mapping.items()
    }


def contact_data(session: Session, contact_id: int) -> dict[str, Any] | None:
    """Everything stored about one contact, by kind, as plain rows; None when it is unknown."""
    contact = session.execute(
        select(_table(Contact)).where(_table(Contact).c.id == contact_id)
    ).first()
    if contact is None:
        return None
    data: dict[str, Any] = {"identity": _plain(contact)}
    tables = [(name, _table(model)) for name, model in _EXPORTED.items()]
    tables += [
        (name, Base.metadata.tables[table])
        for name, table in _EXPORTED_BY_NAME.items()
        if table in Base.metadata.tables
    ]
    for name, table in tables:
        query = select(table).where(table.c.contact_id == contact_id)
        order = table.c.id if "id" in table.c else table.c.contact_id
        data[name] = [_plain(r) for r in session.execute(query.order_by(order))]
    return data


def visitor_ids(session: Session, contact_ids: Sequence[int]) -> list[str]:
    """The anonymous visitor ids linked to these contacts."""
    links = _table(VisitorLink)
    found: list[str] = []
    for piece in pieces(list(contact_ids)):
        found += session.scalars(select(links.c.anonymous_id).where(links.c.contact_id.in_(piece)))
    return found


# How a rejection message names an identifier ("email a@b.fr belongs to contact 3 and
# external_id 33 belongs to contact 7"): emails and E.164 phones are found anywhere, an external
# id (often a short number, such as "33" in every French phone) only after its field name.
_EMAIL_IN_TEXT: Final = re.compile(r"[^\s'\"<>()\[\],;]+@[^\s'\"<>()\[\],;]+")
_PHONE_IN_TEXT: Final = re.compile(r"\+\d{6,15}")
_EXTERNAL_ID_IN_TEXT: Final = re.compile(r"\bexternal_id (\S+?)[;,.]?(?=\s|$)")


def quotes_identifier(message: str, identifiers: set[str], external_ids: set[str]) -> bool:
    """Whether MESSAGE quotes one of IDENTIFIERS (lower-case emails, E.164 phones) or of
    EXTERNAL_IDS: as whole values, never as a part of another value."""
    found = {email.rstrip(".").lower() for email in _EMAIL_IN_TEXT.findall(message)}
    found.update(_PHONE_IN_TEXT.findall(message))
    if found & identifiers:
        return True
    return bool(set(_EXTERNAL_ID_IN_TEXT.findall(message)) & external_ids)


def _rejections_quoting(
    session: Session, identifiers: Sequence[str], external_ids: Sequence[str]
) -> list[int]:
    """Ids of the import rejections whose value is one of the identifiers or whose message
    quotes one (read once, whatever the number of people erased)."""
    rejections = _table(ImportRejection)
    quoted: set[int] = set()
    for values in pieces([*identifiers, *external_ids]):
        quoted.update(
            session.scalars(select(rejections.c.id).where(rejections.c.value.in_(values)))
        )
    lowered, external = {i.lower() for i in identifiers}, set(external_ids)
    may_quote = or_(
        rejections.c.message.contains("@"),
        rejections.c.message.contains("+"),
        rejections.c.message.contains("external_id", autoescape=True),
    )
    query = select(rejections.c.id, rejections.c.message).where(may_quote)
    for rejection_id, message in session.execute(query.execution_options(yield_per=10_000)):
        if quotes_identifier(message, lowered, external):
            quoted.add(rejection_id)
    return sorted(quoted)


def erase(
    session: Session,
    contact_ids: Sequence[int],
    identifiers: Sequence[str],
    external_ids: Sequence[str] = (),
) -> dict[str, int]:
    """Delete the contacts and every row about them; their promo codes keep only the figures;
    import rejections quoting one of IDENTIFIERS (emails, phones) or EXTERNAL_IDS go too.
    Returns rows deleted per table."""
    raise_floor(session)  # the erased ids are never given to anyone else
    counts: dict[str, int] = {}
    ids = list(contact_ids)
    anonymous = visitor_ids(session, ids)
    events = _table(Event)
    for visitors in pieces(anonymous):
        _count(
            counts,
            "events",
            session.execute(delete(events).where(events.c.anonymous_id.in_(visitors))),
        )
    for piece in pieces(ids):
        for model in (Event, VisitorLink, *_BY_CONTACT):
            table = _table(model)
            result = session.execute(delete(table).where(table.c.contact_id.in_(piece)))
            _count(counts, table.name, result)
        codes = _table(PromoCode)
        session.execute(update(codes).where(codes.c.contact_id.in_(piece)).values(contact_id=None))
        contacts = _table(Contact)
        _count(
            counts, "contacts", session.execute(delete(contacts).where(contacts.c.id.in_(piece)))
        )
    rejections = _table(ImportRejection)
    quoting = _rejections_quoting(
        session, [i for i in identifiers if i], [x for x in external_ids if x]
    )
    for piece in pieces(quoting):
        found = session.execute(delete(rejections).where(rejections.c.id.in_(piece)))
        _count(counts, "import_rejections", found)
    return {name: n for name, n in counts.items() if n}


def _count(counts: dict[str, int], name: str, result: Any) -> None:
    counts[name] = counts.get(name, 0) + int(result.rowcount or 0)


def identifiers_of(
    session: Session, contact_ids: Sequence[int]
) -> list[tuple[int, Any, Any, Any, Any]]:
    """(id, email, phone, phone as imported, external id) of these contacts."""
    contacts = _table(Contact)
    found: list[tuple[int, Any, Any, Any, Any]] = []
    for piece in pieces(list(contact_ids)):
        query = select(
            contacts.c.id, contacts.c.email, contacts.c.phone, contacts.c.phone_raw,
            contacts.c.external_id,
        ).where(contacts.c.id.in_(piece))  # fmt: skip
        found += [tuple(r) for r in session.execute(query)]
    return found


def stale_prospects(session: Session, cutoff: datetime, initiated: Sequence[str]) -> list[int]:
    """Contacts who are not customers, created before CUTOFF, with no event of INITIATED types
    (their own doing) since CUTOFF."""
    contacts, events = _table(Contact), _table(Event)
    recent = (
        select(events.c.id)
        .where(
            events.c.contact_id == contacts.c.id,
            events.c.type.in_(list(initiated)),
            events.c.occurred_at >= cutoff,
        )
        .exists()
    )
    query = select(contacts.c.id).where(
        contacts.c.stage != "customer", contacts.c.created_at < cutoff, ~recent
    )
    return list(session.scalars(query.order_by(contacts.c.id)))


def log_request(session: Session, request: DataRequest) -> None:
    """Record a data-protection request carried out (no personal data in it)."""
    session.add(request)
    session.flush()
