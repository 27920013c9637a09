"""Shapes of events as they arrive (API, files, the website) and what ingestion answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StringConstraints,
    model_validator,
)

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
ANONYMOUS_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
MAX_BATCH = 1_000

EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)]
AnonymousId = Annotated[str, StringConstraints(pattern=ANONYMOUS_ID_PATTERN)]


Text64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text320 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]


class EventIn(BaseModel):
    """One event as a sender gives it; the contact by id, email, phone, external or anonymous id."""

    model_config = ConfigDict(extra="forbid")

    type: EventType = Field(description="page_view, email_clicked, form_submitted, purchase, …")
    # Within what the id columns hold (2^63 - 1); JSON tools lose integers above 2^53.
    contact_id: Annotated[StrictInt, Field(gt=0, le=2**53)] | None = None
    email: Text320 | None = None
    phone: Text64 | None = None
    external_id: Text200 | None = None
    anonymous_id: AnonymousId | None = None
    occurred_at: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with a time zone; the time received when absent"
    )
    properties: dict[str, JsonValue] = Field(default_factory=dict)
    source: Text100 | None = None
    campaign: Text200 | None = None
    utm_source: Text200 | None = None
    utm_medium: Text200 | None = None
    utm_campaign: Text200 | None = None
    utm_term: Text200 | None = None
    utm_content: Text200 | None = None
    idempotency_key: Text200 | None = Field(
        default=None, description="the same key twice stores the event once"
    )

    @model_validator(mode="after")
    def _someone(self) -> EventIn:
        refs = [self.contact_id, self.email, self.phone, self.external_id]
        if sum(ref is not None for ref in refs) > 1:
            raise ValueError(
                "give the contact one way: contact_id, email, phone or external_id (not several)"
            )
        if all(ref is None for ref in refs) and self.anonymous_id is None:
            raise ValueError(
                "give the contact as contact_id, email, phone, external_id or anonymous_id"
            )
        return self


class EventBatchIn(BaseModel):
    """Up to 1,000 events; each is checked on its own, so one bad event spares the others."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(max_length=MAX_BATCH)


class ItemError(BaseModel):
    """Why one event of a request was not stored."""

    index: int
    code: str
    message: str


class IngestResult(BaseModel):
    """What one request or file did: events stored, already there, refused (with why)."""

    inserted: int = 0
    duplicates: int = 0
    errors: list[ItemError] = Field(default_factory=list)


class EventView(BaseModel):
    """One event of a contact's timeline."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    contact_id: int | None
    anonymous_id: str | None
    occurred_at: datetime
    received_at: datetime
    properties: dict[str, Any]
    source: str | None
    campaign: str | None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    idempotency_key: str | None = None


RefKind = Literal["contact_id", "email", "phone", "external_id"]
