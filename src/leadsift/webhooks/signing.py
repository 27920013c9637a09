"""Signed deliveries, Stripe style; pure.

`Leadsift-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The time is
part of what is signed, so a receiver refusing old timestamps (`verify`'s tolerance) cannot be
fed a delivery recorded earlier; the body is signed byte for byte, as sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Final

SIGNATURE_HEADER: Final = "Leadsift-Signature"
DELIVERY_HEADER: Final = "Leadsift-Delivery"
EVENT_HEADER: Final = "Leadsift-Event"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 — a prefix, not a secret
DEFAULT_TOLERANCE: Final = 300
_MAX_HEADER: Final = 2_000


def new_secret() -> str:
    """A fresh endpoint secret: 32 random bytes, URL-safe text with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The Leadsift-Signature header's value for BODY sent at TIMESTAMP (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, equals, value = part.strip().partition("=")
        if not equals:
            continue
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    return timestamp, macs


def verify(
    secret: str, header: str, body: bytes, now: datetime, tolerance: int = DEFAULT_TOLERANCE
) -> bool:
    """Whether HEADER signs BODY with SECRET at a time within TOLERANCE seconds of NOW (for
    receivers: refuse the delivery otherwise). Any of several v1 values may match."""
    if len(header) > _MAX_HEADER:
        return False
    timestamp, macs = _parse(header)
    if timestamp is None or not macs:
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False  # a replay of an old delivery, or a clock far off
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected.encode(), mac.encode("utf-8")) for mac in macs)
