"""The public website endpoints: the tracking script, page views, the email pixel, click
redirects and forms.

- `GET /t/leadsift.js`: the script (static/leadsift.js), cached five minutes.
- `POST /t/e`: a page view from the script (JSON whatever the content type) → `page_view`.
- `GET /t/o/{token}.gif`: the open pixel → `email_opened`; always the GIF, never a hint of
  whether the token was genuine.
- `GET /t/c/{token}`: a click → `email_clicked`, then 302 to the link registered for the
  campaign; anything else is a 404 page that echoes nothing (no open redirect).
- `POST /t/form`: a form → contact created or completed, consent with its wording, the visitor
  stitched, `form_submitted` (the rules: contacts/forms.py; the request: web_forms.py).
- `OPTIONS /t/e`, `/t/form`: CORS preflight, for a site's own code posting JSON.

Opens and clicks count once per contact, campaign (link) and hour: see web_events.py. Their
recording never changes the answer: the GIF is shown and the click lands even if it fails.

Every route but the script is rate limited per client IP, and every answer (errors included)
carries `Access-Control-Allow-Origin: *` so the script on the customer's site can read it;
no cookie of ours is ever set or read (the visitor id is the site's first-party cookie, sent in
the payload). Events go through the app's EventWriter, so known visitors are rescored as API
events are: before the answer, or under load within a tenth of a second after it.

Identification by tracked link: the click redirect appends `ls_t`, a token signed for
"identify" naming the contact and expiring an hour later, to the registered URL. The script on
the landing page sends it with the page view and removes it from the address bar; the server
checks it and links the visitor to the contact (stitching its past anonymous events). A
landing URL shared later, or a forged token, identifies nobody. The token is never stored.

Identification races the writer: a page view the writer took before the link was committed is
stored anonymous. So after linking, an empty batch through the writer waits for everything it
took before, then those stragglers are stitched, then the identifying event is recorded — its
rescoring counts them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from leadsift.access.endpoints import public
from leadsift.config import Settings
from leadsift.contacts.fields import CONSENT_FIELDS, TEXT_FIELD_LENGTHS
from leadsift.contacts.forms import FORM_TEXT_FIELDS, read_submission
from leadsift.db import Database
from leadsift.engagement import tokens, tracked_links, web_events, web_forms
from leadsift.engagement.endpoints import writer_of
from leadsift.engagement.schemas import IngestResult
from leadsift.errors import InvalidInputError, LeadsiftError, RateLimitedError
from leadsift.kit.clock import utcnow
from leadsift.kit.ratelimit import RateLimiter
from leadsift.kit.web import (
    NO_NUL,
    client_ip,
    database_of,
    error_response,
    error_responses,
    link_not_found,
    settings_of,
)

logger = logging.getLogger("leadsift.tracking")
# A repeat within the idempotency window (see web_events) is "already recorded", not an error.
_ALREADY_RECORDED: Final = frozenset({"idempotency_conflict"})
# The smallest transparent GIF: 1×1, one transparent colour.
PIXEL: Final = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_CACHE: Final = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "0",
}
NOT_FOUND_PAGE: Final = (
    '<!doctype html><html><head><meta charset="utf-8"><title>Link not found</title></head>'
    "<body><h1>Link not found</h1><p>This link is not valid or no longer exists.</p></body>"
    "</html>"
)

# What the OpenAPI document says of these routes: each answer's media type, the shared error
# body of the refusals, and the bodies a site's own code may post.
_LIMITED: Final = error_responses(429)
# An absolute http(s) URL (web_events.page_url), as browsers write them: an ASCII host.
_PAGE_URL: Final = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~!$&'()*+,;=:%-]+([/?#][^\x00-\x1f\x7f]*)?$"
)


def _page_view_schema() -> dict[str, Any]:
    schema = TypeAdapter(web_events.PageViewIn).json_schema()
    schema["properties"]["url"]["pattern"] = _PAGE_URL
    # Stored as the event's properties, where NUL is refused (events.prepare).
    for name in ("title", "referrer"):
        schema["properties"][name]["pattern"] = NO_NUL
    return schema


def _form_schema() -> dict[str, Any]:
    value: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
    fields = {
        "email": {**value, "description": "An email address, or give a phone (or both)."},
        "phone": {**value, "description": "International, or national in the default region."},
        **{name: {**value, "maxLength": TEXT_FIELD_LENGTHS[name]} for name in FORM_TEXT_FIELDS},
        **{
            name: {**value, "description": "yes/no, true/false, 1/0, on/off"}
            for name in CONSENT_FIELDS
        },
        "consent_text": {**value, "description": "The exact wording shown; needed with consent."},
        "ls_aid": {**value, "description": "The visitor's anonymous id (the script adds it)."},
        "ls_url": {**value, "description": "The page's URL (the script adds it)."},
        "ls_form": {**value, "description": "The form's name (the script adds it)."},
    }
    return {
        "type": "object",
        "properties": fields,
        "additionalProperties": value,
        "description": "A form's fields: unknown ones are ignored. Posted as JSON, or "
        "urlencoded or multipart/form-data (a browser's form) with the same names.",
    }


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def rate_limiter(settings: Settings) -> RateLimiter:
    """The per-IP limiter of the public endpoints."""
    return RateLimiter(settings.tracking_rate_per_second, settings.tracking_burst)


def _throttle(request: Request) -> None:
    limiter = request.app.state.rate_limiter
    assert isinstance(limiter, RateLimiter)  # noqa: S101 — set by create_app
    wait = limiter.acquire(client_ip(request), time.monotonic())
    if wait > 0:
        seconds = RateLimiter.retry_after(wait)
        raise RateLimitedError(
            f"too many requests from this address; retry in {seconds} s", retry_after=seconds
        )


class PublicRoute(APIRoute):
    """A public route: rate limited per client IP, its answers readable from any site."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler wrapped in the limit and the CORS header."""
        handle = super().get_route_handler()

        async def public(request: Request) -> Response:
            try:
                _throttle(request)
                response = await handle(request)
            except LeadsiftError as exc:
                response = error_response(exc)
            response.headers["Access-Control-Allow-Origin"] = "*"
            return response

        return public


router = APIRouter(
    prefix="/t",
    tags=["tracking"],
    route_class=PublicRoute,
    dependencies=[
        Depends(public("website tracking: anonymous visitors, signed pixel and link tokens"))
    ],
)


@lru_cache(maxsize=1)
def _script() -> bytes:
    return resources.files("leadsift.engagement").joinpath("static/leadsift.js").read_bytes()


def tracking_script() -> Response:
    """The tracking script a website embeds (`<script src=".../t/leadsift.js" async>`)."""
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(_script(), media_type="text/javascript", headers=headers)


# Static and cheap: not rate limited (a busy office behind one address loads it on every page).
router.add_api_route(
    "/leadsift.js",
    tracking_script,
    methods=["GET"],
    operation_id="tracking_script",
    response_class=Response,
    responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
    route_class_override=APIRoute,
)


async def _secret(request: Request) -> bytes:
    """The workspace's tracking secret (read once per app: it never changes)."""
    cached = getattr(request.app.state, "tracking_secret", None)
    if isinstance(cached, bytes):
        return cached
    secret = await run_in_threadpool(
        web_forms.retrying, database_of(request), tracked_links.tracking_secret
    )
    request.app.state.tracking_secret = secret
    return secret


async def _record(request: Request, *events: dict[str, Any]) -> IngestResult:
    """Record events through the app's writer (scores updated before it returns)."""
    return await asyncio.wrap_future(writer_of(request).submit(list(events)))


async def _record_quietly(request: Request, event: dict[str, Any]) -> None:
    """Record an email open or click; a failure is logged, never shown to the reader (the GIF
    is still shown, the click still lands)."""
    try:
        await _record(request, event)
    except LeadsiftError:
        logger.warning("an email %s was not recorded", event["type"], exc_info=True)


async def _settle(request: Request, database: Database, visitor: str, contact_id: int) -> None:
    """After a visitor is linked: wait for what the writer took before, stitch it too."""
    await _record(request)
    await run_in_threadpool(web_forms.stitch_stragglers, database, visitor, contact_id)


@router.options("/e", include_in_schema=False, response_class=Response)
@router.options("/form", include_in_schema=False, response_class=Response)
async def preflight() -> Response:
    """CORS preflight: a site's own code may post JSON to /t/e and /t/form (the script never
    needs this: its requests are simple ones)."""
    headers = {
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "86400",
    }
    return Response(status_code=204, headers=headers)


@router.post(
    "/e",
    operation_id="record_page_view",
    status_code=204,
    response_class=Response,
    responses=error_responses(400, 413, 422, 429),
    openapi_extra=_json_body(_page_view_schema()),
)
async def record_page_view(request: Request) -> Response:
    """A page view from the tracking script: 204, or 4xx saying what is wrong."""
    received = utcnow()
    view = web_events.read_page_view(await request.body())
    if view.t is not None:
        contact_id = tokens.read_identify(await _secret(request), view.t, received)
        database = database_of(request)
        if contact_id is not None and await run_in_threadpool(
            web_forms.link_visitor, database, view.aid, contact_id, "tracked_link", received
        ):
            await _settle(request, database, view.aid, contact_id)
    user_agent = web_events.user_agent_of(request.headers.get("user-agent"))
    result = await _record(request, web_events.page_view_event(view, user_agent, received))
    problems = [error for error in result.errors if error.code not in _ALREADY_RECORDED]
    if problems:
        raise InvalidInputError(problems[0].message, code=problems[0].code)
    return Response(status_code=204)


@router.get(
    "/o/{token}.gif",
    operation_id="email_open_pixel",
    response_class=Response,
    responses={
        200: {"content": {"image/gif": {"schema": {"type": "string"}}}},
        **link_not_found(None),
        **_LIMITED,
    },
)
async def email_open_pixel(token: str, request: Request) -> Response:
    """A 1×1 transparent GIF; a genuine token records the contact's open of the campaign."""
    claim = tokens.read_open(await _secret(request), token)
    if claim is not None:
        contact_id, campaign = claim
        # Whatever the writer says (a repeat, a contact deleted since), the answer is the GIF.
        await _record_quietly(request, web_events.open_event(contact_id, campaign, utcnow()))
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


def _not_found() -> HTMLResponse:
    return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers=NO_CACHE)


@router.get(
    "/c/{token:path}",
    operation_id="email_click",
    response_class=Response,
    responses={
        302: {
            "description": "To the link's registered URL.",
            "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
        },
        **link_not_found("Not a genuine link: a page that echoes nothing."),
        **_LIMITED,
    },
)
async def email_click(token: str, request: Request) -> Response:
    """A click on a tracked email link: recorded, then redirected to the registered URL only."""
    secret = await _secret(request)
    claim = tokens.read_click(secret, token)
    if claim is None:
        return _not_found()
    link = await run_in_threadpool(
        web_forms.retrying,
        database_of(request),
        lambda session: tracked_links.click_destination(session, claim),
    )
    if link is None:
        return _not_found()
    now = utcnow()
    await _record_quietly(
        request, web_events.click_event(claim.contact_id, link.id, link.campaign, link.url, now)
    )
    location = tokens.landing_url(link.url, tokens.identify_token(secret, claim.contact_id, now))
    return RedirectResponse(location, status_code=302, headers=NO_CACHE)


@router.post(
    "/form",
    operation_id="submit_form",
    responses={
        200: {"content": {"application/json": {"schema": {"const": {"ok": True}}}}},
        **error_responses(400, 413, 422, 429),
    },
    openapi_extra=_json_body(_form_schema()),
)
async def submit_form(request: Request) -> JSONResponse:
    """A website form: the contact created or completed (empty fields only), consent recorded
    with its wording, the visitor's past events stitched, `form_submitted` recorded."""
    fields = await web_forms.read_fields(request)
    submission = read_submission(
        fields,
        region=settings_of(request).default_region,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    visitor = web_events.anonymous_id(fields.get("ls_aid"))
    database = database_of(request)
    outcome = await run_in_threadpool(
        web_forms.record_form, database, submission, visitor, utcnow()
    )
    if visitor is not None:
        await _settle(request, database, visitor, outcome.contact_id)
    url = web_events.page_url(fields.get("ls_url") or "")
    event = web_events.form_event(
        outcome.contact_id,
        utcnow(),
        visitor=visitor,
        url=url,
        form=web_events.form_name(fields.get("ls_form")),
        ignored=outcome.ignored,
    )
    await _record(request, event)
    # No contact id in the answer: ids are sequential, so it would tell anyone whether an
    # email address was already known.
    return JSONResponse({"ok": True})
