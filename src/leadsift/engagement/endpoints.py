"""`POST /api/v1/events` (one event or a batch) and a contact's timeline."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from leadsift.access.endpoints import allow
from leadsift.access.repository import is_visible
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.engagement import service
from leadsift.engagement.schemas import MAX_BATCH, EventBatchIn, EventIn, EventView, IngestResult
from leadsift.engagement.writer import EventWriter
from leadsift.errors import (
    InvalidInputError,
    MalformedJsonError,
    NotFoundError,
    PayloadTooLargeError,
)
from leadsift.kit.web import ContactId, ErrorBody, error_responses, reading_session

router = APIRouter(prefix="/api/v1", tags=["events"], responses=error_responses(401, 403))

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/EventIn"},
                        {"$ref": "#/components/schemas/EventBatchIn"},
                    ]
                }
            }
        },
    }
}
# Models the hand-written request body above refers to (added to the OpenAPI components).
DOCUMENTED_MODELS = (EventIn, EventBatchIn)
_STATUS_OF_ERROR = {"idempotency_conflict": 409}
# A single event refused is answered with the ingest result (what was refused and why); a body
# that is no event at all, with the error body.
_RECORD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(400, 413),
    409: {
        "model": IngestResult,
        "description": "A single event whose idempotency key was used for another event.",
    },
    422: {
        "model": IngestResult | ErrorBody,
        "description": "A single event refused (the result says why), or a body that is "
        "neither an event nor a batch.",
    },
}


def writer_of(request: Request) -> EventWriter:
    """The event writer of the app serving this request."""
    writer = request.app.state.event_writer
    assert isinstance(writer, EventWriter)  # noqa: S101 — set by create_app
    return writer


def _events_of(body: bytes) -> tuple[list[Any], bool]:
    """The events of a request body and whether it was a batch."""
    try:
        document = pydantic_core.from_json(body)
    except ValueError as exc:
        raise MalformedJsonError(f"the body is not valid JSON: {exc}") from None
    if isinstance(document, dict) and "events" in document:
        unknown = sorted(set(document) - {"events"})
        if unknown:
            raise InvalidInputError(
                f'unknown field(s) {", ".join(unknown)}; a batch is {{"events": [...]}}'
            )
        events = document["events"]
        if not isinstance(events, list):
            raise InvalidInputError("events: expected a list of events")
        if len(events) > MAX_BATCH:
            raise PayloadTooLargeError(
                f"at most {MAX_BATCH:,} events per request (got {len(events):,}); split the batch",
                code="batch_too_large",
            )
        return events, True
    if not isinstance(document, dict):
        raise InvalidInputError('expected one event (an object) or {"events": [...]}')
    return [document], False


@router.post(
    "/events",
    operation_id="record_events",
    response_model=IngestResult,
    responses=_RECORD_RESPONSES,
    openapi_extra=_BODY_DOC,
    dependencies=[Depends(allow(Scope.INGEST, roles={Role.ADMIN}))],
)
async def record_events(request: Request) -> JSONResponse:
    """Record one event or up to 1,000; the contacts' scores and stages are updated before the
    answer. Each event is checked on its own: the answer lists what was refused and why."""
    events, batch = _events_of(await request.body())
    result = await asyncio.wrap_future(writer_of(request).submit(events))
    status = 200
    if not batch and result.errors:
        status = _STATUS_OF_ERROR.get(result.errors[0].code, 422)
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


@router.get(
    "/contacts/{contact_id}/events",
    operation_id="contact_events",
    response_model=list[EventView],
    responses=error_responses(404, 422),
)
def contact_events(
    contact_id: ContactId,
    db: Annotated[Session, Depends(reading_session)],
    caller: Annotated[Caller, Depends(allow(Scope.READ))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventView]:
    """A contact's timeline: its latest events, oldest first."""
    if not service.contact_exists(db, contact_id) or not is_visible(db, caller, contact_id):
        raise NotFoundError(f"no contact {contact_id}")
    return service.timeline(db, contact_id, limit)
