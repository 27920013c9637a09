"""The call queue over the API: the next call, logging a call, giving a prospect to someone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from leadsift.access import repository as access_repository
from leadsift.access.endpoints import allow
from leadsift.access.schemas import Caller, Role, Scope, UserView
from leadsift.access.service import list_users
from leadsift.agents import call_log, calls, service
from leadsift.agents.schemas import LoggedCall, NextCall, OwnerView
from leadsift.engagement.service import contact_exists
from leadsift.errors import NotFoundError, PermissionDeniedError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import (
    NO_NUL,
    ContactId,
    database_of,
    error_responses,
    reading_session,
    settings_of,
)

router = APIRouter(prefix="/api/v1", tags=["agents"], responses=error_responses(401, 403))
_PEOPLE = {Role.ADMIN, Role.MANAGER, Role.AGENT}


def _name_of(session: Session, caller: Caller) -> str:
    if caller.user_id is None:
        raise PermissionDeniedError(
            "the call queue is a person's: use an API key that belongs to a user "
            "(`leadsift apikey create --user NAME`)"
        )
    user = access_repository.get_user(session, caller.user_id)
    assert user is not None  # noqa: S101 — the key's user was checked a moment ago
    return user.name


# POST, not GET: handing out a prospect from a team's queue makes it the caller's.
_NOT_A_PERSON = {403: "The key's scope or its user's role does not allow this, or the key "
                 "belongs to no user (the call queue is a person's)."}  # fmt: skip


@router.post(
    "/calls/next",
    operation_id="next_call",
    response_model=NextCall,
    responses=error_responses(described=_NOT_A_PERSON),
)
def next_call(
    request: Request, caller: Annotated[Caller, Depends(allow(Scope.READ, roles=_PEOPLE))]
) -> NextCall:
    """The caller's next prospect to call under the calling rules, or nobody and why (a
    prospect from a team's queue becomes the caller's)."""
    with database_of(request).unit_of_work() as session:
        return calls.next_call(session, _name_of(session, caller), utcnow())


class CallOutcome(BaseModel):
    """What happened on a call."""

    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(
        description="no_answer, callback, interested, not_interested, sale or wrong_number",
        max_length=20,
    )
    reason: str | None = Field(default=None, max_length=40)
    callback_at: AwareDatetime | None = None
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)


def _seen(session: Session, caller: Caller, contact_id: int) -> None:
    """The contact by id only; one the caller may not see answers as a missing one."""
    if not contact_exists(session, contact_id) or not access_repository.is_visible(
        session, caller, contact_id
    ):
        raise NotFoundError(f"no contact {contact_id}")


def _log(request: Request, caller: Caller, contact_id: int, body: CallOutcome) -> LoggedCall:
    with database_of(request).unit_of_work() as session:
        _seen(session, caller, contact_id)
        return call_log.log_call(
            session, _name_of(session, caller), str(contact_id), body.outcome, now=utcnow(),
            reason=body.reason, callback_at=body.callback_at, amount=body.amount,
            region=settings_of(request).default_region,
        )  # fmt: skip


@router.post(
    "/contacts/{contact_id}/calls",
    operation_id="log_call",
    response_model=LoggedCall,
    responses=error_responses(
        400, 404, 413, 422, described={**_NOT_A_PERSON, 404: "No such contact among the caller's."}
    ),
)
async def log_a_call(
    contact_id: ContactId,
    body: CallOutcome,
    request: Request,
    caller: Annotated[Caller, Depends(allow(Scope.READ, roles=_PEOPLE))],
) -> LoggedCall:
    """Log a call to one of the caller's prospects (404 for anyone else's)."""
    return await run_in_threadpool(_log, request, caller, contact_id, body)


class OwnerChange(BaseModel):
    """Who should work a contact: a user or a team's queue."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(default=None, max_length=100, pattern=NO_NUL)
    team: str | None = Field(default=None, max_length=100, pattern=NO_NUL)


def _assign(request: Request, caller: Caller, contact_id: int, body: OwnerChange) -> OwnerView:
    with database_of(request).unit_of_work() as session:
        _seen(session, caller, contact_id)
        return service.assign_contact(
            session, str(contact_id), to_user=body.user, to_team=body.team, caller=caller,
            region=settings_of(request).default_region,
        )  # fmt: skip


@router.put(
    "/contacts/{contact_id}/owner",
    operation_id="assign_contact",
    response_model=OwnerView,
    responses=error_responses(400, 404, 413, 422),
)
async def assign_contact(
    contact_id: ContactId,
    body: OwnerChange,
    request: Request,
    caller: Annotated[Caller, Depends(allow(Scope.ADMIN, roles={Role.ADMIN, Role.MANAGER}))],
) -> OwnerView:
    """Give a contact to a user or a team's queue (managers: only contacts they see)."""
    return await run_in_threadpool(_assign, request, caller, contact_id, body)


@router.get(
    "/users",
    operation_id="list_users",
    response_model=list[UserView],
    dependencies=[Depends(allow(Scope.READ, roles={Role.ADMIN, Role.MANAGER}))],
)
def users(db: Annotated[Session, Depends(reading_session)]) -> list[UserView]:
    """Every user with their role and teams."""
    return list_users(db)
