"""Signed tokens of email opens, clicks and visitor identification, and the URLs carrying them;
pure.

Every token is `kit.signing` over a small JSON payload with the workspace's "tracking" secret;
the purpose (open, click, identify) is part of the signature, so a token never serves another
use. Payloads are checked field by field: a genuine token with an unexpected shape is refused
like a forged one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit, urlunsplit

from leadsift.errors import InvalidInputError
from leadsift.kit.signing import sign, verify

OPEN: Final = "open"
CLICK: Final = "click"
IDENTIFY: Final = "identify"
# The landing page of a tracked link identifies its visitor within this delay after the click;
# a landing URL copied or shared later identifies nobody.
IDENTIFY_VALIDITY: Final = timedelta(hours=1)
# The query parameter carrying the identification token to the landing page.
IDENTIFY_PARAMETER: Final = "ls_t"
MAX_URL_LENGTH: Final = 2_000
MAX_CAMPAIGN_LENGTH: Final = 200


@dataclass(frozen=True)
class ClickClaim:
    """What a genuine click token says: this contact clicked this link of this campaign."""

    link_id: int
    contact_id: int
    campaign: str


def _positive_int(value: Any) -> int | None:
    # bool is an int in Python; a payload saying `true` is not an id.
    if type(value) is int and value > 0:
        return value
    return None


def _campaign(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_CAMPAIGN_LENGTH:
        return value
    return None


def open_token(secret: bytes, contact_id: int, campaign: str) -> str:
    """The token of a contact's open pixel for one campaign."""
    return sign(secret, OPEN, {"c": contact_id, "k": campaign})


def read_open(secret: bytes, token: str) -> tuple[int, str] | None:
    """(contact id, campaign) of a genuine open token, else None."""
    payload = verify(secret, OPEN, token)
    if payload is None or set(payload) != {"c", "k"}:
        return None
    contact_id, campaign = _positive_int(payload["c"]), _campaign(payload["k"])
    if contact_id is None or campaign is None:
        return None
    return contact_id, campaign


def click_token(secret: bytes, link_id: int, contact_id: int, campaign: str) -> str:
    """The token of a contact's click on a registered link (its campaign included: a token
    never opens a link that has since come to mean another campaign's)."""
    return sign(secret, CLICK, {"l": link_id, "c": contact_id, "k": campaign})


def read_click(secret: bytes, token: str) -> ClickClaim | None:
    """What a genuine click token says, else None."""
    payload = verify(secret, CLICK, token)
    if payload is None or set(payload) != {"l", "c", "k"}:
        return None
    link_id, contact_id = _positive_int(payload["l"]), _positive_int(payload["c"])
    campaign = _campaign(payload["k"])
    if link_id is None or contact_id is None or campaign is None:
        return None
    return ClickClaim(link_id, contact_id, campaign)


def identify_token(secret: bytes, contact_id: int, now: datetime) -> str:
    """A short-lived token a landing page passes on with its page view to say who clicked."""
    expires = int((now + IDENTIFY_VALIDITY).timestamp())
    return sign(secret, IDENTIFY, {"c": contact_id, "x": expires})


def read_identify(secret: bytes, token: str, now: datetime) -> int | None:
    """The contact of a genuine identification token not yet expired, else None."""
    payload = verify(secret, IDENTIFY, token)
    if payload is None or set(payload) != {"c", "x"}:
        return None
    contact_id, expires = _positive_int(payload["c"]), _positive_int(payload["x"])
    if contact_id is None or expires is None or expires < now.timestamp():
        return None
    return contact_id


def _web_url(text: str, what: str) -> SplitResult:
    """An absolute http(s) URL with a host, free of spaces and control characters."""
    if len(text) > MAX_URL_LENGTH:
        raise InvalidInputError(f"{what}: longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInputError(f"{what} {text!r}: contains spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 — raises ValueError on a port that is not a number
    except ValueError:
        raise InvalidInputError(f"{what} {text!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"{what} {text!r}: give an absolute http:// or https:// URL with a host"
        )
    return parts


def _parameter_names(query: str) -> set[str]:
    return {part.partition("=")[0] for part in query.split("&")}


def check_link_url(text: str) -> str:
    """A URL a campaign may register as a click destination, or an error saying why not."""
    text = text.strip()
    parts = _web_url(text, "--url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(f"--url {text!r}: URLs with a user name or password are refused")
    if _parameter_names(parts.query) & {IDENTIFY_PARAMETER}:
        raise InvalidInputError(f"--url: the {IDENTIFY_PARAMETER} parameter is leadsift's own")
    return text


def check_campaign(text: str) -> str:
    """A campaign name: 1 to 200 characters, surrounding spaces removed."""
    name = text.strip()
    if not name or len(name) > MAX_CAMPAIGN_LENGTH:
        raise InvalidInputError(f"--campaign: give a name of 1 to {MAX_CAMPAIGN_LENGTH} characters")
    return name


def check_base_url(text: str) -> str:
    """The app's public URL (scheme, host, optional path prefix), without a trailing slash."""
    parts = _web_url(text.strip(), "base URL")
    if parts.query or parts.fragment:
        raise InvalidInputError(
            f"base URL {text!r}: no query or fragment, e.g. https://t.example.com"
        )
    return urlunsplit(parts).rstrip("/")


def pixel_url(base_url: str, token: str) -> str:
    """The address of the open pixel for TOKEN."""
    return f"{base_url}/t/o/{token}.gif"


def click_url(base_url: str, token: str) -> str:
    """The tracked address that redirects to a registered link."""
    return f"{base_url}/t/c/{token}"


def landing_url(url: str, token: str) -> str:
    """The registered URL with the identification token appended to its query."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}{IDENTIFY_PARAMETER}={token}"))


def without_identify_parameter(url: str) -> str:
    """URL without the identification token (never stored: it says who the visitor is)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[": stored as data, as sent (it carries no token)
        return url
    if IDENTIFY_PARAMETER not in parts.query:
        return url
    # Removed textually: re-encoding the query would change how the other parameters read.
    kept = [part for part in parts.query.split("&") if part.partition("=")[0] != IDENTIFY_PARAMETER]
    return urlunsplit(parts._replace(query="&".join(kept)))
