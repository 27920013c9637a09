"""`GET /api/v1/contacts/{id}`: one contact with its stage, consent and scores."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from leadsift.access.endpoints import require
from leadsift.access.schemas import Scope
from leadsift.contacts import lookup
from leadsift.contacts.schemas import ContactView
from leadsift.kit.web import reading_session

router = APIRouter(prefix="/api/v1", tags=["contacts"])


@router.get(
    "/contacts/{contact_id}",
    operation_id="get_contact",
    response_model=ContactView,
    dependencies=[Depends(require(Scope.READ))],
)
def get_contact(contact_id: int, db: Annotated[Session, Depends(reading_session)]) -> ContactView:
    """One contact: identity, stage and reason, consent per channel, fit and interest."""
    return lookup.get_contact(db, contact_id)
