"""Events from the website and from emails: page views as the tracking script sends them, opens,
clicks and forms, turned into the events the writer records; pure.

Idempotency keys, per event type:
- page view: the script's random id of the view (scoped by visitor), so a re-sent beacon is
  stored once;
- email open: one per contact, campaign and hour (UTC). Mail clients and image proxies fetch a
  pixel several times in a row; an open an hour later is a new sign of interest;
- email click: one per contact, link and hour, for the same reason (link scanners, double
  clicks);
- form: none; each submission is its own event (the script blocks a double submit).
The writer reports a repeat in the same hour as an idempotency conflict (its time differs from
the first one's); the endpoints take that as "already recorded".
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

import pydantic_core
from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter, ValidationError

from leadsift.engagement.criteria_fields import UTM_FIELDS
from leadsift.engagement.events import describe_validation
from leadsift.engagement.schemas import ANONYMOUS_ID_PATTERN, AnonymousId
from leadsift.engagement.tokens import MAX_URL_LENGTH, without_identify_parameter
from leadsift.errors import InvalidInputError, MalformedJsonError

MAX_TITLE_LENGTH: Final = 1_000
MAX_USER_AGENT_LENGTH: Final = 500
MAX_UTM_LENGTH: Final = 200
MAX_FORM_NAME_LENGTH: Final = 100
# Browser event types the script may send (the rest come through the API, with a key).
BROWSER_EVENT_TYPES: Final = ("page_view",)

RandomId = Annotated[str, StringConstraints(pattern=ANONYMOUS_ID_PATTERN)]


class PageViewIn(BaseModel):
    """A page view as the tracking script sends it."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["page_view"] = "page_view"
    id: RandomId  # the view's random id: a re-sent beacon is stored once
    aid: AnonymousId  # the visitor's first-party anonymous id
    url: Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH)]
    title: Annotated[str, StringConstraints(max_length=MAX_TITLE_LENGTH)] = ""
    referrer: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] = ""
    # The identification token a tracked email link put on the landing page's URL.
    t: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] | None = None


_PAGE_VIEW: Final = TypeAdapter(PageViewIn)
_ANONYMOUS_ID: Final = TypeAdapter(AnonymousId)


def read_page_view(body: bytes) -> PageViewIn:
    """The script's page view from a request body (JSON whatever the content type)."""
    try:
        document = pydantic_core.from_json(body)
    except ValueError as exc:
        raise MalformedJsonError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInputError("expected a page view: a JSON object")
    if document.get("type", "page_view") not in BROWSER_EVENT_TYPES:
        raise InvalidInputError(
            f"type {document.get('type')!r}: the website sends only "
            f"{', '.join(BROWSER_EVENT_TYPES)}; send other events through /api/v1/events",
            code="invalid_event",
        )
    try:
        view = _PAGE_VIEW.validate_python(document)
    except ValidationError as exc:
        raise InvalidInputError(describe_validation(exc), code="invalid_event") from None
    if page_url(view.url) is None:
        raise InvalidInputError("url: give the page's absolute http(s) URL", code="invalid_event")
    return view


def page_url(text: str) -> str | None:
    """An http(s) page URL without the identification token, or None when it is not one."""
    if len(text) > MAX_URL_LENGTH or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return without_identify_parameter(text)


def anonymous_id(text: str | None) -> str | None:
    """A well-formed anonymous visitor id, else None."""
    if text is None:
        return None
    try:
        return _ANONYMOUS_ID.validate_python(text)
    except ValidationError:
        return None


def utm_fields(url: str) -> dict[str, str]:
    """The UTM parameters of a URL's query (first value of each, at most 200 characters)."""
    query = parse_qs(urlsplit(url).query)
    found = {}
    for name in UTM_FIELDS:
        value = (query.get(name) or [""])[0].strip()[:MAX_UTM_LENGTH].strip()
        if value:
            found[name] = value
    return found


def user_agent_of(header: str | None) -> str | None:
    """The user agent as stored: data, cut to the column's length."""
    return header[:MAX_USER_AGENT_LENGTH] if header else None


def page_view_event(view: PageViewIn, user_agent: str | None, at: datetime) -> dict[str, Any]:
    """The event to record for a page view received AT."""
    url = without_identify_parameter(view.url)
    return {
        "type": "page_view",
        "anonymous_id": view.aid,
        "occurred_at": at,
        "properties": {
            "url": url,
            "path": urlsplit(url).path or "/",
            "title": view.title,
            "referrer": without_identify_parameter(view.referrer),
            "user_agent": user_agent,
        },
        "source": "website",
        **utm_fields(url),
        "idempotency_key": f"page_view:{view.aid}:{view.id}",
    }


def _hour(at: datetime) -> str:
    return at.strftime("%Y%m%d%H")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def open_event(contact_id: int, campaign: str, at: datetime) -> dict[str, Any]:
    """An email open: the first one per contact, campaign and hour counts."""
    return {
        "type": "email_opened",
        "contact_id": contact_id,
        "occurred_at": at,
        "campaign": campaign,
        "source": "email_pixel",
        "idempotency_key": f"email_opened:{contact_id}:{_digest(campaign)}:{_hour(at)}",
    }


def click_event(
    contact_id: int, link_id: int, campaign: str, url: str, at: datetime
) -> dict[str, Any]:
    """A click on a registered link: the first one per contact, link and hour counts."""
    return {
        "type": "email_clicked",
        "contact_id": contact_id,
        "occurred_at": at,
        "campaign": campaign,
        "properties": {"url": url, "link_id": link_id},
        "source": "email_link",
        **utm_fields(url),
        "idempotency_key": f"email_clicked:{contact_id}:{link_id}:{_hour(at)}",
    }


def form_event(
    contact_id: int,
    at: datetime,
    *,
    visitor: str | None,
    url: str | None,
    form: str | None,
    ignored: list[str],
) -> dict[str, Any]:
    """A form submitted by a contact (on page URL, by visitor when known)."""
    properties: dict[str, Any] = {"form": form, "url": url}
    if ignored:
        # Identifiers the form gave that belong to someone else or contradict stored ones.
        properties["ignored"] = ignored
    return {
        "type": "form_submitted",
        "contact_id": contact_id,
        "anonymous_id": visitor,
        "occurred_at": at,
        "properties": properties,
        "source": "web_form",
        **(utm_fields(url) if url else {}),
    }


def form_name(text: str | None) -> str | None:
    """The form's name (its data-leadsift-form value), cut to 100 characters."""
    name = (text or "").strip()[:MAX_FORM_NAME_LENGTH]
    return name or None
