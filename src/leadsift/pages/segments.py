"""Saved segments on the Contacts page: admins and managers save the current filter under a
name, admins delete one; the list is shown again with what was done. The segments themselves
show as quick filters (`pages/contacts.py`)."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from leadsift.access.schemas import Role
from leadsift.access.sessions import SessionCaller
from leadsift.kit.clock import utcnow
from leadsift.pages.contacts import Notice, act_then_list
from leadsift.segments import saved
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french

router = APIRouter(include_in_schema=False)
_MANAGERS: Final = frozenset({Role.ADMIN, Role.MANAGER})

add_french({
    "Saved segments": "Segments enregistrés",
    "Save as segment": "Enregistrer comme segment",
    "Saves the current criteria under a name; saving a name again replaces its criteria.":
        "Enregistre les critères actuels sous un nom ; enregistrer à nouveau un nom remplace "
        "ses critères.",
    "Segment name": "Nom du segment",
    "Letters, digits, '.', '_' or '-', e.g. hot-leads-lyon.":
        "Lettres, chiffres, « . », « _ » ou « - », par exemple leads-chauds-lyon.",
    "Description (optional)": "Description (facultative)",
    "Delete a saved segment": "Supprimer un segment enregistré",
    "Segment": "Segment", "Delete the segment": "Supprimer le segment",
    "Segment {name} saved.": "Segment {name} enregistré.",
    "Segment {name} updated.": "Segment {name} mis à jour.",
    "Segment {name} was already saved with these criteria.":
        "Le segment {name} était déjà enregistré avec ces critères.",
    "Segment {name} deleted.": "Segment {name} supprimé.",
})  # fmt: skip


class SegmentForm(BaseModel):
    """The save form: a name, the filter shown (the criteria saved) and a description."""

    name: str = Field("", max_length=200)
    q: str = Field("", max_length=2000)
    description: str = Field("", max_length=400)


class DeleteForm(BaseModel):
    """The delete form: which segment, and the filter to show the list with afterwards."""

    name: str = Field("", max_length=200)
    q: str = Field("", max_length=2000)


@router.post("/contacts/segments")
def save_segment(
    request: Request,
    page: Annotated[SessionCaller, Depends(signed_in(_MANAGERS))],
    form: Annotated[SegmentForm, Form()],
) -> HTMLResponse:
    """Save the current criteria as a segment (or update the segment of that name)."""

    def act(session: Session) -> Notice:
        done = saved.save_segment(
            session, form.name, form.q, form.description, caller=page.caller, now=utcnow()
        )
        if done.created:
            return Notice("Segment {name} saved.", {"name": done.name})
        if done.changed:
            return Notice("Segment {name} updated.", {"name": done.name})
        return Notice("Segment {name} was already saved with these criteria.", {"name": done.name})

    return act_then_list(request, page, form.q, act)


@router.post("/contacts/segments/delete")
def delete_segment(
    request: Request,
    page: Annotated[SessionCaller, Depends(signed_in({Role.ADMIN}))],
    form: Annotated[DeleteForm, Form()],
) -> HTMLResponse:
    """Delete a saved segment (filters and campaigns that copied its criteria keep them)."""

    def act(session: Session) -> Notice:
        gone = saved.delete_segment(session, form.name, caller=page.caller)
        return Notice("Segment {name} deleted.", {"name": gone.name})

    return act_then_list(request, page, form.q, act)
