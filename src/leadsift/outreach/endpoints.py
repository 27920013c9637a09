"""Outreach over HTTP: one-click unsubscribe (RFC 8058), the SMS gateway's inbound webhook,
and promo code redemption.

- `GET /u/{token}` shows a page with a button; it never changes anything (mail scanners and
  link previews fetch every URL they see).
- `POST /u/{token}` unsubscribes at once: no cookie, no login, no redirect, 200. The token is
  an HMAC: a tampered one changes nothing and gets a fixed 404 page.
- `POST /api/v1/sms/inbound` (ingest key): STOP / STOP SMS / ARRET / UNSUBSCRIBE withdraw SMS
  consent and suppress the number at once; any other text is a reply (`sms_replied`).
- `POST /api/v1/promo/redeem` (ingest key): a purchase with its code.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from leadsift.access.endpoints import allow, public
from leadsift.access.schemas import Role, Scope
from leadsift.db import Database
from leadsift.engagement.service import AfterEvents, record_for_contacts
from leadsift.engagement.tracked_links import tracking_secret
from leadsift.engagement.tracking import PublicRoute
from leadsift.errors import InvalidInputError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import NO_NUL, database_of, error_responses, link_not_found, settings_of
from leadsift.outreach import consent, promo, repository, unsubscribe
from leadsift.outreach.identifiers import normalise_phone
from leadsift.outreach.inbound import is_stop

unsubscribe_links = APIRouter(
    prefix="/u",
    tags=["unsubscribe"],
    route_class=PublicRoute,
    dependencies=[Depends(public("the unsubscribe links in emails: signed tokens, no key"))],
)
api = APIRouter(prefix="/api/v1", tags=["outreach"], responses=error_responses(401, 403))

_PAGE: Final = (
    '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{title}</title></head><body><main><h1>{title}</h1><p>{body}</p>{form}</main>"
    "</body></html>"
)
_NOT_FOUND: Final = _PAGE.format(
    title="Lien invalide / Invalid link",
    body="Ce lien de désinscription n'est pas valide. / This unsubscribe link is not valid.",
    form="",
)


def _page(title: str, body: str, form: str = "") -> HTMLResponse:
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(_PAGE.format(title=title, body=body, form=form), headers=headers)


def _claim(database: Database, token: str) -> unsubscribe.UnsubscribeClaim | None:
    with database.unit_of_work(read_only=True) as session:
        return unsubscribe.read(tracking_secret(session), token)


# A page for a person: a link that is not genuine gets a page saying so, not a JSON error.
_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}},
    **link_not_found("The link is not genuine: a page saying so."),
    **error_responses(429),
}


@unsubscribe_links.get(
    "/{token}",
    response_class=HTMLResponse,
    operation_id="unsubscribe_page",
    responses=_PAGE_RESPONSES,
)
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """The unsubscribe page: a button that posts; showing it changes nothing."""
    claim = await run_in_threadpool(_claim, database_of(request), token)
    if claim is None:
        return HTMLResponse(_NOT_FOUND, status_code=404)
    action = html.escape(f"/u/{token}", quote=True)
    form = (
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Me désinscrire / Unsubscribe</button></form>'
    )
    channel = "e-mails" if claim.channel == "email" else "SMS"
    body = (
        f"Ne plus recevoir nos {channel} ? / Stop receiving our {channel}? "
        "Un clic suffit. / One click is enough."
    )
    return _page("Désinscription / Unsubscribe", body, form)


def _unsubscribe(database: Database, token: str, now: datetime) -> bool | None:
    with database.unit_of_work() as session:
        claim = unsubscribe.read(tracking_secret(session), token)
        if claim is None:
            return None
        if repository.contact_row(session, claim.contact_id) is None:
            return True  # erased meanwhile: its identifiers are suppressed already
        consent.withdraw(
            session,
            claim.contact_id,
            claim.channel,
            source="unsubscribe_link",
            reason="unsubscribed",
            now=now,
            campaign=claim.campaign,
        )
        return True


@unsubscribe_links.post(
    "/{token}",
    response_class=HTMLResponse,
    operation_id="unsubscribe_one_click",
    responses={**_PAGE_RESPONSES, **error_responses(413)},
)
async def unsubscribe_one_click(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click unsubscribe: done at once, 200, no redirect, no cookie."""
    done = await run_in_threadpool(_unsubscribe, database_of(request), token, utcnow())
    if done is None:
        return HTMLResponse(_NOT_FOUND, status_code=404)
    return _page(
        "Désinscription confirmée / Unsubscribed",
        "Vous ne recevrez plus nos messages sur ce canal. / "
        "You will receive no more messages on this channel.",
    )


class InboundSms(BaseModel):
    """A message a person sent to our number, as the gateway forwards it."""

    model_config = ConfigDict(extra="forbid")

    from_: str = Field(alias="from", min_length=3, max_length=32)
    text: str = Field(max_length=2_000, pattern=NO_NUL)
    received_at: AwareDatetime | None = None


class InboundResult(BaseModel):
    """What an inbound SMS did."""

    stop: bool
    contacts: int


def _inbound(
    database: Database,
    message: InboundSms,
    region: str,
    now: datetime,
    after_events: AfterEvents,
) -> InboundResult:
    phone = normalise_phone(message.from_, region)
    if phone is None:
        raise InvalidInputError(
            f"'from': {message.from_!r} is not a phone number; the gateway must send the "
            "sender's number, international (+33612345678) or national in the default region"
        )
    stop = is_stop(message.text)
    with database.unit_of_work() as session:
        contact_ids = repository.contacts_with_phone(session, phone)
        if stop:
            # The number is suppressed even when no contact has it (yet): a later import
            # cannot bring it back.
            hashes = {"phone": consent.identifier_hashes(consent.suppression_secret(session), None,
                                                          phone)["phone"]}  # fmt: skip
            consent.suppress_hashes(session, hashes, channels=["sms"], reason="stop",
                                    source="sms_stop", now=now)  # fmt: skip
            for contact_id in contact_ids:
                consent.withdraw(session, contact_id, "sms", source="sms_stop", reason="stop",
                                 now=now)  # fmt: skip
        else:
            # A gateway's clock ahead of ours cannot date a reply after its arrival.
            at = min(message.received_at or now, now)
            events: list[tuple[int, dict[str, Any]]] = [
                (
                    c,
                    {
                        "type": "sms_replied",
                        "occurred_at": at,
                        "source": "sms",
                        "properties": {"text": message.text[:500]},
                    },
                )
                for c in contact_ids
            ]
            record_for_contacts(session, events, now=now)
            # A reply raises a hand: scores and stages move before the answer, as for any event.
            after_events(session, set(contact_ids), now)
    return InboundResult(stop=stop, contacts=len(contact_ids))


@api.post(
    "/sms/inbound",
    operation_id="sms_inbound",
    responses=error_responses(400, 413, 422),
    dependencies=[Depends(allow(Scope.INGEST, roles={Role.ADMIN}))],
)
async def sms_inbound(message: InboundSms, request: Request) -> InboundResult:
    """An SMS a person sent us: STOP keywords unsubscribe at once, anything else is a reply."""
    region = settings_of(request).default_region
    # What follows recorded events (scores, stages, assignment) is the app's, wired at start.
    after_events: AfterEvents = request.app.state.after_events
    return await run_in_threadpool(
        _inbound, database_of(request), message, region, utcnow(), after_events
    )


class RedeemRequest(BaseModel):
    """A code presented at checkout."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    contact_id: int | None = Field(default=None, gt=0)


class RedeemResult(BaseModel):
    """The redemption: by whom, for which campaign, and the contact's stage now."""

    code: str
    program: str
    contact_id: int | None
    campaign: str | None
    amount: float | None
    stage: str | None
    redeemed_at: datetime


def _redeem(database: Database, body: RedeemRequest, now: datetime) -> RedeemResult:
    with database.unit_of_work() as session:
        done = promo.redeem(
            session, body.code, now=now, amount=body.amount, presented_by=body.contact_id
        )
    return RedeemResult(**done.__dict__)


@api.post(
    "/promo/redeem",
    operation_id="promo_redeem",
    responses=error_responses(
        400,
        404,
        409,
        413,
        422,
        described={
            404: "No such promo code.",
            409: "The code is expired, someone else's, used, or its program exhausted "
            "(the error's code says which).",
        },
    ),
    dependencies=[Depends(allow(Scope.INGEST, roles={Role.ADMIN}))],
)
async def promo_redeem(body: RedeemRequest, request: Request) -> RedeemResult:
    """Redeem a personal code: a purchase attributed to its campaign (409 with the reason when
    the code is expired, someone else's, used, or its program exhausted)."""
    return await run_in_threadpool(_redeem, database_of(request), body, utcnow())
