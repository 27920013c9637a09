"""Finding one contact by what a person types (id, email, phone in any notation, external id)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.schemas import Caller
from leadsift.contacts import repository
from leadsift.contacts.models import Contact
from leadsift.contacts.schemas import ContactView
from leadsift.contacts.validators import normalise_email, normalise_phone
from leadsift.errors import NotFoundError


def find_contact(session: Session, ref: str, default_region: str = "FR") -> ContactView:
    """A contact by id, email, phone (any notation) or external id."""
    ref = ref.strip()
    contact = None
    if ref.isdigit():
        contact = repository.find_contact(session, contact_id=int(ref))
    if contact is None and "@" in ref:
        contact = repository.find_contact(session, email=normalise_email(ref) or ref.lower())
    if contact is None:
        phone = normalise_phone(ref, default_region) if any(c.isdigit() for c in ref) else None
        if phone is not None:
            contact = repository.find_contact(session, phone=phone)
    if contact is None:
        contact = repository.find_contact(session, external_id=ref)
    if contact is None:
        raise NotFoundError(f"no contact matches {ref!r} (give an id, email, phone or external id)")
    return _view(session, contact)


def find_visible_contact(session: Session, caller: Caller, ref: str, region: str) -> int:
    """The id of the contact REF names among those CALLER may see (one they may not see is
    refused exactly like one that does not exist)."""
    try:
        found: int | None = find_contact(session, ref, region).id
    except NotFoundError:
        found = None
    if found is None or not access_repository.is_visible(session, caller, found):
        raise NotFoundError(
            f"no contact matches {ref.strip()!r} among those you may see "
            "(give an id, email, phone or external id)"
        )
    return found


def get_contact(session: Session, contact_id: int) -> ContactView:
    """A contact by id only."""
    contact = repository.find_contact(session, contact_id=contact_id)
    if contact is None:
        raise NotFoundError(f"no contact {contact_id}")
    return _view(session, contact)


def _view(session: Session, contact: Contact) -> ContactView:
    view = ContactView.model_validate(contact, from_attributes=True)
    view.consent = repository.consent_of(session, contact.id)
    stored = repository.scores_of(session, [contact.id]).get(contact.id, {})
    view.scores = {
        "fit": contact.fit,
        "interest": round(stored.get("interest", 0.0), 6),
        "interest_at": stored.get("scored_at"),
        "probability": stored.get("probability"),
        "priority": stored.get("priority"),
        "predicted_at": stored.get("predicted_at"),
    }
    return view
