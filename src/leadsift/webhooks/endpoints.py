"""Webhook endpoints over the API: list, add (the secret shown once), disable, deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from leadsift.access.endpoints import allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.kit.clock import utcnow
from leadsift.kit.web import NO_NUL, database_of, error_responses, reading_session
from leadsift.webhooks import service
from leadsift.webhooks.schemas import CreatedEndpoint, DeliveryView, EndpointView

router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=error_responses(401, 403))
# Where the workspace's data goes is an administrator's decision.
_ADMIN = allow(Scope.ADMIN, roles={Role.ADMIN})
# Within what the database's integer columns hold (a larger one is refused, not a server error).
WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The endpoint's id.")]
EventName = Literal[
    "stage_changed", "qualified", "customer", "score_crossed", "code_redeemed",
    "contact.stage_changed", "contact.qualified", "contact.customer", "contact.score_crossed",
    "promo_code.redeemed",
]  # fmt: skip
_NO_ENDPOINT = {404: "No such webhook endpoint."}


class NewEndpoint(BaseModel):
    """An endpoint to add."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2000, pattern=r"^https?://[^\s]+$", description="http(s) URL receiving the POSTs"
    )
    events: list[EventName] = Field(
        min_length=1,
        max_length=10,
        description="stage_changed, qualified, customer, score_crossed, code_redeemed "
        "(or their types, e.g. contact.qualified)",
    )
    threshold: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^\s*(interest|probability)\s*>=\s*[-+]?[0-9]*\.?[0-9]+\s*$",
        description="for score_crossed (and required by it): e.g. interest>=60",
    )
    description: str | None = Field(default=None, max_length=300, pattern=NO_NUL)


class EndpointList(BaseModel):
    """Every endpoint (never their secrets)."""

    endpoints: list[EndpointView]


class DeliveryList(BaseModel):
    """An endpoint's latest deliveries, newest first."""

    deliveries: list[DeliveryView]


@router.get("/webhooks", operation_id="list_webhooks", response_model=EndpointList)
def list_webhooks(
    _caller: Annotated[Caller, Depends(_ADMIN)],
    session: Annotated[Session, Depends(reading_session)],
) -> EndpointList:
    """Every webhook endpoint."""
    return EndpointList(endpoints=service.list_endpoints(session))


@router.post(
    "/webhooks",
    operation_id="add_webhook",
    response_model=CreatedEndpoint,
    status_code=201,
    responses=error_responses(400, 413, 422),
)
def add_webhook(
    request: Request, body: NewEndpoint, caller: Annotated[Caller, Depends(_ADMIN)]
) -> CreatedEndpoint:
    """Add an endpoint; its signing secret is in this answer only."""
    with database_of(request).unit_of_work() as session:
        return service.add_endpoint(
            session, body.url, body.events, now=utcnow(), threshold=body.threshold,
            description=body.description, caller=caller,
        )  # fmt: skip


@router.delete(
    "/webhooks/{webhook_id}",
    operation_id="disable_webhook",
    response_model=EndpointView,
    responses=error_responses(422, described=_NO_ENDPOINT),
)
def disable_webhook(
    request: Request, webhook_id: WebhookId, caller: Annotated[Caller, Depends(_ADMIN)]
) -> EndpointView:
    """Disable an endpoint: nothing more is sent to it (kept, with its deliveries)."""
    with database_of(request).unit_of_work() as session:
        return service.disable_endpoint(session, webhook_id, now=utcnow(), caller=caller)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    operation_id="list_webhook_deliveries",
    response_model=DeliveryList,
    responses=error_responses(422, described=_NO_ENDPOINT),
)
def list_webhook_deliveries(
    webhook_id: WebhookId,
    _caller: Annotated[Caller, Depends(_ADMIN)],
    session: Annotated[Session, Depends(reading_session)],
    status: Annotated[
        Literal["pending", "failed", "delivered", "gave_up"] | None,
        Query(description="Only these."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    """An endpoint's latest deliveries and their last attempt."""
    found = service.list_deliveries(session, endpoint_id=webhook_id, status=status, limit=limit)
    return DeliveryList(deliveries=found)
