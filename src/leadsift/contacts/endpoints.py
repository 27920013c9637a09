"""`GET /api/v1/contacts/{id}`: one contact with its stage, consent and scores."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from leadsift.access.endpoints import allow
from leadsift.access.repository import is_visible
from leadsift.access.schemas import Caller, Scope
from leadsift.contacts import lookup
from leadsift.contacts.schemas import ContactView
from leadsift.errors import NotFoundError
from leadsift.kit.web import ContactId, error_responses, reading_session

router = APIRouter(prefix="/api/v1", tags=["contacts"], responses=error_responses(401, 403))


@router.get(
    "/contacts/{contact_id}",
    operation_id="get_contact",
    response_model=ContactView,
    responses=error_responses(404, 422),
)
def get_contact(
    contact_id: ContactId,
    db: Annotated[Session, Depends(reading_session)],
    caller: Annotated[Caller, Depends(allow(Scope.READ))],
) -> ContactView:
    """One contact: identity, stage and reason, consent per channel, fit and interest (404
    for a contact the key's user may not see, exactly as for one that does not exist)."""
    if not is_visible(db, caller, contact_id):
        raise NotFoundError(f"no contact {contact_id}")
    return lookup.get_contact(db, contact_id)
