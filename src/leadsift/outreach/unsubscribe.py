"""Unsubscribe tokens: which contact leaves which channel, from which campaign; pure.

An HMAC (`kit.signing`, the workspace's tracking secret, purpose "unsubscribe"): a tampered or
forged token changes nothing. It never expires — an unsubscribe link must work as long as the
message exists in someone's mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from leadsift.kit.signing import sign, verify

PURPOSE: Final = "unsubscribe"
_CHANNELS: Final = ("email", "sms")


@dataclass(frozen=True)
class UnsubscribeClaim:
    """What a genuine token says."""

    contact_id: int
    channel: str
    campaign: str


def token(secret: bytes, contact_id: int, channel: str, campaign: str) -> str:
    """The token of one contact's unsubscribe link for CHANNEL, from CAMPAIGN."""
    return sign(secret, PURPOSE, {"c": contact_id, "ch": channel, "k": campaign})


def read(secret: bytes, text: str) -> UnsubscribeClaim | None:
    """What a genuine token says, else None (forged, altered, malformed)."""
    payload = verify(secret, PURPOSE, text)
    if payload is None or set(payload) != {"c", "ch", "k"}:
        return None
    contact_id, channel, campaign = payload["c"], payload["ch"], payload["k"]
    if type(contact_id) is not int or contact_id <= 0 or channel not in _CHANNELS:
        return None
    if not isinstance(campaign, str) or not campaign:
        return None
    return UnsubscribeClaim(contact_id, channel, campaign)


def url(base_url: str, text: str) -> str:
    """The one-click unsubscribe address (GET shows a page, POST unsubscribes)."""
    return f"{base_url}/u/{text}"
