"""Predictive models over the API: the stored models, a model's card, activating one, and a
contact's explanation (`leadsift explain`: its stage and why, its interest, and the active
model's prediction). Training and scoring everyone are jobs: `POST /api/v1/models/training-runs`
and `POST /api/v1/models/scoring-runs`."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as ApiPath
from pydantic import BaseModel
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.engagement.service import contact_exists
from leadsift.errors import NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.query import strict_query
from leadsift.kit.web import ContactId, database_of, error_responses, reading_session
from leadsift.qualification import service as lifecycle
from leadsift.qualification.schemas import Explanation
from leadsift.scoring import service
from leadsift.scoring.schemas import ModelView

router = APIRouter(
    prefix="/api/v1", tags=["models"], responses=error_responses(401, 403, described=RATE_LIMITED)
)
# Models decide who is called first: administrators and managers read them, administrators
# choose the one in use (as they train them).
_READERS: Final = strict_query(allow(Scope.READ, roles={Role.ADMIN, Role.MANAGER}))
_ADMIN: Final = strict_query(allow(Scope.ADMIN, roles={Role.ADMIN}))
_READ: Final = strict_query(allow(Scope.READ))
# A page's `next`: the id of its last item, as text.
CURSOR: Final = r"^[1-9][0-9]{0,17}$"
ModelId = Annotated[int, ApiPath(ge=1, le=2**63 - 1, description="The model's id.")]
_NO_MODEL: Final = {404: "No such model."}


class ModelPage(BaseModel):
    """Stored models, newest first (`leadsift model list`); `next` is the cursor of the
    following page (null on the last)."""

    items: list[ModelView]
    next: str | None


@router.get("/models", operation_id="list_models", response_model=ModelPage)
def list_models(
    _caller: Annotated[Caller, Depends(_READERS)],
    session: Annotated[Session, Depends(reading_session)],
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many models.")] = 100,
    after: Annotated[
        str | None, Query(pattern=CURSOR, description="A page's `next`, as is: the page after it.")
    ] = None,
) -> ModelPage:
    """Stored models, newest first; the active one is marked (cards: GET /api/v1/models/{id})."""
    models = service.list_models(session)
    later = [model for model in models if after is None or model.id < int(after)]
    items = later[:limit]
    return ModelPage(items=items, next=str(items[-1].id) if len(later) > limit else None)


@router.get(
    "/models/{model_id:int}",
    operation_id="get_model",
    response_model=ModelView,
    responses=error_responses(422, described=_NO_MODEL),
)
def get_model(
    model_id: ModelId,
    _caller: Annotated[Caller, Depends(_READERS)],
    session: Annotated[Session, Depends(reading_session)],
) -> ModelView:
    """A model's card, as `leadsift model show`: data, label, features, metrics, warnings,
    library versions."""
    return service.show(session, model_id)


@router.post(
    "/models/{model_id:int}/activate",
    operation_id="activate_model",
    response_model=ModelView,
    responses=error_responses(422, described={
        **_NO_MODEL,
        422: "The model cannot be used here: damaged, or trained on fields this workspace "
        "does not have (the message says which).",
    }),
)  # fmt: skip
def activate_model(
    model_id: ModelId, request: Request, _caller: Annotated[Caller, Depends(_ADMIN)]
) -> ModelView:
    """Make a stored model the active one, as `leadsift model activate` (checked first: it
    must load and fit this workspace's fields). Contacts keep their probabilities until they
    are scored again: `POST /api/v1/models/scoring-runs` rescores everyone."""
    with database_of(request).unit_of_work() as session:
        return service.activate(session, model_id, utcnow())


@router.get(
    "/contacts/{contact_id}/explanation",
    operation_id="explain_contact",
    response_model=Explanation,
    responses=error_responses(422, described={
        404: "No such contact among those the caller may see.",
        422: "The active model cannot read this workspace's fields (train or activate another).",
    }),
)  # fmt: skip
def explain_contact(
    contact_id: ContactId,
    caller: Annotated[Caller, Depends(_READ)],
    session: Annotated[Session, Depends(reading_session)],
) -> Explanation:
    """Why a contact is in its stage, as `leadsift explain --json`: its history, its last
    evaluation criterion by criterion, its interest rule by rule, and the active model's
    probability and priority with the features behind them (404 for a contact the key's user
    may not see, exactly as for one that does not exist)."""
    if not contact_exists(session, contact_id) or not access_repository.is_visible(
        session, caller, contact_id
    ):
        raise NotFoundError(f"no contact {contact_id}")
    found = lifecycle.explain(session, str(contact_id))
    predicted = service.explain(session, found.contact_id, utcnow())
    return found.model_copy(update={"prediction": predicted})
