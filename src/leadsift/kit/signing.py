"""Signed tokens for links that travel in emails (clicks, opens): HMAC-SHA256, URL-safe; pure.

A token is `base64url(JSON payload) "." base64url(first 16 bytes of the HMAC)`; the purpose is
part of the signed text, so a token made for one use never verifies for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, body: str) -> bytes:
    message = f"{purpose}\x1f{body}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(secret: bytes, purpose: str, payload: dict[str, Any]) -> str:
    """A token carrying PAYLOAD that only SECRET's holder could have made, for PURPOSE."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{body}.{_b64(_mac(secret, purpose, body))}"


def verify(secret: bytes, purpose: str, token: str) -> dict[str, Any] | None:
    """The payload of a genuine token for PURPOSE, or None (forged, altered, malformed)."""
    body, dot, mac = token.partition(".")
    if not dot or not body or len(token) > 2_000:
        return None
    try:
        given = _unb64(mac)
        if _b64(given) != mac:
            return None  # a non-canonical encoding of the MAC (spare bits set): not ours
        expected = _mac(secret, purpose, body)
        if not hmac.compare_digest(given, expected):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
