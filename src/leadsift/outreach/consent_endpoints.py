"""Consent and the rights of the people contacted over the API: what `leadsift consent show|grant|
withdraw` and `gdpr export|erase` do, through the same services. A contact the caller may not see
answers 404 exactly like one that does not exist; exports and erasures are logged as data
requests with the key's actor."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.contacts import lookup
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import NO_NUL, ContactId, database_of, error_responses
from leadsift.outreach import consent, gdpr

router = APIRouter(
    prefix="/api/v1",
    tags=["consent"],
    responses=error_responses(401, 403, described=RATE_LIMITED),
)
# Consent is read by whoever sees the contact; a statement of consent is data coming in.
_READ: Final = allow(Scope.READ)
_RECORD: Final = allow(Scope.INGEST)
# Data-protection requests are handled by admins, and managers for their teams' contacts.
_EXPORT: Final = allow(Scope.READ, roles={Role.ADMIN, Role.MANAGER})
_ERASE: Final = allow(Scope.ADMIN, roles={Role.ADMIN})
_NOT_FOUND: Final = {404: "No such contact among those the caller may see."}
Channel = Literal["email", "sms", "phone", "ad_audience"]


def _seen(session: Session, caller: Caller, contact_id: int) -> None:
    """The contact by id only; one the caller may not see answers as a missing one."""
    if not access_repository.is_visible(session, caller, contact_id):
        raise NotFoundError(f"no contact {contact_id}")
    lookup.get_contact(session, contact_id)  # 404 when it does not exist


class ChannelState(BaseModel):
    """Where the person stands on one channel (granted null: never stated)."""

    channel: str
    purpose: str
    granted: bool | None
    since: datetime | None
    source: str | None
    entry_id: int | None


class Decision(BaseModel):
    """The send gate's answer for a channel today, with its reason code and why."""

    allowed: bool
    reason: str
    message: str


class ConsentShown(BaseModel):
    """A contact's consent per channel, suppressions, the gate's decisions and the ledger."""

    contact_id: int
    audience: str
    states: dict[str, ChannelState]
    suppressed: dict[str, str] = Field(description="Channel (or `all`) -> suppression reason.")
    decisions: dict[str, Decision]
    ledger: list[dict[str, Any]]


@router.get(
    "/contacts/{contact_id}/consent",
    operation_id="get_consent",
    response_model=ConsentShown,
    responses=error_responses(404, 422, described=_NOT_FOUND),
)
def get_consent(
    request: Request,
    contact_id: ContactId,
    caller: Annotated[Caller, Depends(_READ)],
    audience: Annotated[Literal["b2c", "b2b"], Query(description="What the gate applies.")] = "b2c",
) -> ConsentShown:
    """The contact's consent per channel, suppressions, and whether each channel may be used
    today (as `leadsift consent show`)."""
    # Not read-only: the workspace's suppression secret is made on first use.
    with database_of(request).unit_of_work() as session:
        _seen(session, caller, contact_id)
        view = consent.show(session, contact_id, audience=audience, now=utcnow())
    return ConsentShown.model_validate(asdict(view))


class ConsentStatement(BaseModel):
    """A consent given or withdrawn, as `leadsift consent grant|withdraw`."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["grant", "withdraw"]
    channel: Channel
    purpose: Literal["marketing"] = Field(
        default="marketing", description="The only purpose recorded today (consent.PURPOSES)."
    )
    source: str = Field(
        default="api",
        min_length=1,
        max_length=40,  # the ledger's column (consent_records.source)
        pattern=NO_NUL,
        description="How it was given or asked (form, call, letter…).",
    )
    wording: str | None = Field(
        default=None,
        max_length=10_000,
        pattern=NO_NUL,
        description="The exact text agreed to (grant only; needed to lift a suppression).",
    )
    lift_suppression: StrictBool = Field(
        default=False,
        description="Grant only: also lift the person's own earlier opt-out on this channel.",
    )


class ConsentRecorded(BaseModel):
    """What a statement did: `changed` false when a withdrawal was already in force."""

    contact_id: int
    channel: str
    purpose: str
    granted: bool
    changed: bool
    ledger_id: int | None = Field(description="The new ledger row of a grant.")


@router.post(
    "/contacts/{contact_id}/consent",
    operation_id="record_consent",
    response_model=ConsentRecorded,
    responses=error_responses(400, 404, 413, 422, described=_NOT_FOUND),
)
def record_consent(
    request: Request,
    contact_id: ContactId,
    body: ConsentStatement,
    caller: Annotated[Caller, Depends(_RECORD)],
) -> ConsentRecorded:
    """Record that the person agreed to be contacted on a channel (a new ledger row), or their
    objection (a ledger row and a suppression that holds after any re-import)."""
    if body.action == "withdraw" and (body.wording is not None or body.lift_suppression):
        raise InvalidInputError("wording and lift_suppression go with a grant, not a withdrawal")
    now = utcnow()
    with database_of(request).unit_of_work() as session:
        _seen(session, caller, contact_id)
        if body.action == "grant":
            record = consent.grant(
                session, contact_id, body.channel, source=body.source, now=now,
                wording=body.wording, lift_suppression=body.lift_suppression,
            )  # fmt: skip
            return ConsentRecorded(
                contact_id=contact_id, channel=body.channel, purpose=body.purpose, granted=True,
                changed=True, ledger_id=record.id,
            )  # fmt: skip
        changed = consent.withdraw(session, contact_id, body.channel, source=body.source, now=now)
    return ConsentRecorded(
        contact_id=contact_id, channel=body.channel, purpose=body.purpose, granted=False,
        changed=changed, ledger_id=None,
    )  # fmt: skip


@router.get(
    "/contacts/{contact_id}/personal-data",
    operation_id="export_personal_data",
    response_model=dict[str, Any],
    responses=error_responses(404, 422, described=_NOT_FOUND),
)
def export_personal_data(
    request: Request, contact_id: ContactId, caller: Annotated[Caller, Depends(_EXPORT)]
) -> dict[str, Any]:
    """Everything stored about the person (identity, consents, events, stages, scores, messages,
    codes, calls), as `leadsift gdpr export`; the request is logged (without personal data)."""
    with database_of(request).unit_of_work() as session:
        _seen(session, caller, contact_id)
        return gdpr.export(session, contact_id, now=utcnow(), actor=caller.actor)


class Erased(BaseModel):
    """What an erasure deleted: rows per table (the identifiers stay suppressed, hashed)."""

    erased: bool
    contact_id: int
    deleted: dict[str, int]


@router.post(
    "/contacts/{contact_id}/erasure",
    operation_id="erase_contact",
    response_model=Erased,
    responses=error_responses(404, 422, described=_NOT_FOUND),
)
def erase_contact(
    request: Request, contact_id: ContactId, caller: Annotated[Caller, Depends(_ERASE)]
) -> Erased:
    """Delete the person from every table, as `leadsift gdpr erase --yes` (cannot be undone):
    keyed hashes of their identifiers stay on the suppression list, so a re-import gives a
    contact nobody may message."""
    with database_of(request).unit_of_work() as session:
        _seen(session, caller, contact_id)
        counts = gdpr.erase(session, contact_id, now=utcnow(), actor=caller.actor)
    return Erased(erased=True, contact_id=contact_id, deleted=counts)
