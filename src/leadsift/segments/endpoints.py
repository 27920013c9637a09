"""Saved segments over the API: list, save (create or update), delete, and the count of the
contacts a segment selects that the caller may see."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi import Path as ApiPath
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from leadsift.access.endpoints import allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.kit.clock import utcnow
from leadsift.kit.web import NO_NUL, database_of, error_responses, reading_session
from leadsift.segments import saved
from leadsift.segments.saved import SavedView, SegmentView

router = APIRouter(prefix="/api/v1", tags=["segments"], responses=error_responses(401, 403))
# Anyone who reads may use the workspace's segments; admins and managers write them (as on
# the contacts page), and only admins delete them.
_READ: Final = allow(Scope.READ)
_WRITE: Final = allow(Scope.ADMIN, roles={Role.ADMIN, Role.MANAGER})
_DELETE: Final = allow(Scope.ADMIN, roles={Role.ADMIN})
SegmentName = Annotated[
    str,
    ApiPath(
        min_length=1,
        max_length=saved.MAX_NAME,
        pattern=saved.NAME_PATTERN,
        description="The segment's name: letters, digits, '.', '_' or '-' (case is ignored).",
    ),
]
_NO_SEGMENT: Final = {404: "No saved segment of that name."}


class SegmentBody(BaseModel):
    """What a segment selects, and what it is for."""

    model_config = ConfigDict(extra="forbid")

    expression: str = Field(
        min_length=1,
        max_length=saved.MAX_EXPRESSION,
        pattern=NO_NUL,
        description='A criteria expression, e.g. `stage = "lead" and interest >= 40`.',
    )
    description: str | None = Field(
        default=None,
        max_length=saved.MAX_DESCRIPTION,
        pattern=NO_NUL,
        description="What the segment is for (replaced on each save; absent clears it).",
    )


class SegmentList(BaseModel):
    """Every saved segment, by name."""

    segments: list[SegmentView]


class SegmentCount(BaseModel):
    """How many contacts a segment selects now, among those the caller may see."""

    name: str
    count: int


@router.get("/segments", operation_id="list_segments", response_model=SegmentList)
def list_segments(
    _caller: Annotated[Caller, Depends(_READ)],
    session: Annotated[Session, Depends(reading_session)],
) -> SegmentList:
    """Every saved segment, by name."""
    return SegmentList(segments=saved.list_segments(session))


@router.put(
    "/segments/{name}",
    operation_id="save_segment",
    response_model=SavedView,
    responses=error_responses(400, 413, 422, described={
        422: "The request is not valid, or the expression is not (the message says where: "
        "line, column and what to write instead).",
    }),
)  # fmt: skip
def save_segment(
    request: Request,
    name: SegmentName,
    body: SegmentBody,
    caller: Annotated[Caller, Depends(_WRITE)],
) -> SavedView:
    """Save an expression under a name: created, or updated when the name exists (saving the
    same again changes nothing)."""
    with database_of(request).unit_of_work() as session:
        return saved.save_segment(
            session, name, body.expression, body.description, caller=caller, now=utcnow()
        )


@router.delete(
    "/segments/{name}",
    operation_id="delete_segment",
    response_model=SegmentView,
    responses=error_responses(422, described=_NO_SEGMENT),
)
def delete_segment(
    request: Request, name: SegmentName, caller: Annotated[Caller, Depends(_DELETE)]
) -> SegmentView:
    """Delete a saved segment; the answer is what it was."""
    with database_of(request).unit_of_work() as session:
        return saved.delete_segment(session, name, caller=caller)


@router.get(
    "/segments/{name}/count",
    operation_id="count_segment",
    response_model=SegmentCount,
    responses=error_responses(422, described=_NO_SEGMENT),
)
def count_segment(
    name: SegmentName,
    caller: Annotated[Caller, Depends(_READ)],
    session: Annotated[Session, Depends(reading_session)],
) -> SegmentCount:
    """How many contacts the segment selects now, among those the caller may see (an agent:
    their own and their teams' queues)."""
    count = saved.visible_count(session, name, caller)
    return SegmentCount(name=saved.segment_name(name), count=count)
