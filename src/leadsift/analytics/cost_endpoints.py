"""Costs of campaigns over the API: listed newest first (`leadsift cost list`), added one at a
time (`leadsift cost add`) or in batches answered item by item (207 Multi-Status)."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.analytics import costs
from leadsift.analytics.costs import CostView
from leadsift.analytics.endpoints import BUSY, IsoDay
from leadsift.errors import LeadsiftError
from leadsift.kit.clock import utcnow
from leadsift.kit.query import strict_query
from leadsift.kit.web import NO_NUL, ErrorDetail, error_responses, reading_session, writing_session

router = APIRouter(
    prefix="/api/v1", tags=["costs"], responses=error_responses(401, 403, described=RATE_LIMITED)
)
# Those who read the reports read what was spent; those who run campaigns (as on the campaign
# pages: administrators and managers) record it.
_READERS: Final = strict_query(allow(Scope.READ, roles={Role.ADMIN, Role.MANAGER}))
_SPENDERS: Final = strict_query(allow(Scope.ADMIN, roles={Role.ADMIN, Role.MANAGER}))
MAX_BATCH: Final = 1000
# A page's `next`: the day and id of its last cost (costs are listed newest first).
CURSOR: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}_[1-9][0-9]{0,17}$"
Campaign = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]


class NewCost(BaseModel):
    """A cost of a campaign, as `leadsift cost add` takes it."""

    model_config = ConfigDict(extra="forbid")

    campaign: Campaign = Field(
        description="leadsift's campaign, or a campaign (or UTM campaign) named on events."
    )
    amount: float = Field(gt=0, le=1e12, allow_inf_nan=False, description="What it cost.")
    spent_on: IsoDay | None = Field(default=None, description="When (YYYY-MM-DD); today if absent.")
    channel: str | None = Field(
        default=None, max_length=40, pattern=NO_NUL, description="email, sms, ads, phone, …"
    )
    source: str | None = Field(
        default=None, max_length=200, pattern=NO_NUL, description="The source it paid (google)."
    )


class CostBatch(BaseModel):
    """Costs to add, each on its own: one refused never stops the others."""

    model_config = ConfigDict(extra="forbid")

    costs: list[NewCost] = Field(min_length=1, max_length=MAX_BATCH)


class CostPage(BaseModel):
    """Recorded costs, newest first; `next` is the cursor of the following page (null on the
    last)."""

    items: list[CostView]
    next: str | None


class CostOutcome(BaseModel):
    """What became of one cost of a batch: added, or refused and why."""

    index: int = Field(description="Its position in the batch, from 0.")
    status: int = Field(description="201 added, else its error's status (404: no such campaign).")
    cost: CostView | None = None
    error: ErrorDetail | None = None


class CostBatchResult(BaseModel):
    """Each cost of a batch, in the batch's order."""

    added: int
    refused: int
    items: list[CostOutcome]


def _after(cost: CostView, cursor: str | None) -> bool:
    """Whether COST comes after CURSOR, newest first (ISO days compare as text)."""
    if cursor is None:
        return True
    day, _, cost_id = cursor.partition("_")
    return (cost.spent_on.isoformat(), cost.id) < (day, int(cost_id))


@router.get(
    "/costs", operation_id="list_costs", response_model=CostPage, responses=error_responses(422)
)
def list_costs(
    _caller: Annotated[Caller, Depends(_READERS)],
    session: Annotated[Session, Depends(reading_session)],
    campaign: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=NO_NUL, description="This campaign's only."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many costs.")] = 100,
    after: Annotated[
        str | None, Query(pattern=CURSOR, description="A page's `next`, as is: the page after it.")
    ] = None,
) -> CostPage:
    """Recorded costs, newest first (of one campaign when given)."""
    later = [cost for cost in costs.list_costs(session, campaign) if _after(cost, after)]
    items, cursor = later[:limit], None
    if len(later) > limit:
        cursor = f"{items[-1].spent_on.isoformat()}_{items[-1].id}"
    return CostPage(items=items, next=cursor)


def _add(session: Session, cost: NewCost, caller: Caller) -> CostView:
    now = utcnow()
    return costs.add_cost(
        session, cost.campaign, cost.amount, spent_on=cost.spent_on or now.date(), now=now,
        channel=cost.channel, source=cost.source, caller=caller,
    )  # fmt: skip


@router.post(
    "/costs",
    operation_id="add_cost",
    status_code=201,
    response_model=CostView,
    responses={
        **error_responses(400, 413, 422, described={404: "No such campaign."}),
        **BUSY,
    },
)
def add_cost(
    body: NewCost, request: Request, caller: Annotated[Caller, Depends(_SPENDERS)]
) -> CostView:
    """Record a cost of a campaign, as `leadsift cost add`."""
    with writing_session(request) as session:
        return _add(session, body, caller)


@router.post(
    "/costs:batch",
    operation_id="add_costs",
    status_code=207,
    response_model=CostBatchResult,
    responses={**error_responses(400, 413, 422), **BUSY},
)
def add_costs(
    body: CostBatch, request: Request, caller: Annotated[Caller, Depends(_SPENDERS)]
) -> CostBatchResult:
    """Record up to 1000 costs, each on its own as `leadsift cost add` would (207: each item
    says whether it was added, or why not; those added are kept)."""
    outcomes = []
    with writing_session(request) as session:
        for index, item in enumerate(body.costs):
            try:
                # A savepoint per cost: a refused one leaves nothing behind it.
                with session.begin_nested():
                    cost = _add(session, item, caller)
            except LeadsiftError as refused:
                error = ErrorDetail(code=refused.code, message=refused.message)
                outcomes.append(CostOutcome(index=index, status=refused.http_status, error=error))
            else:
                outcomes.append(CostOutcome(index=index, status=201, cost=cost))
    added = sum(1 for outcome in outcomes if outcome.cost is not None)
    return CostBatchResult(added=added, refused=len(outcomes) - added, items=outcomes)
