"""Suppression keys: normalised email and phone identifiers, hashed with a secret key; pure.

The suppression list keeps only these keys, so an erased or opted-out person stays suppressed
after a re-import without the list holding their address. The hash is keyed (HMAC-SHA256 with
a workspace secret): with a plain hash, a dump of the list would give the addresses back to
anyone hashing a dictionary of emails or enumerating phone numbers.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from leadsift.contacts import validators

IdentifierKind = Literal["email", "phone"]


def normalise_email(value: str) -> str | None:
    """The email in the normal form of stored contacts, or None when it is not valid."""
    # The import strips cells before validating; so does this, to find the same contacts.
    return validators.normalise_email(value.strip())


def normalise_phone(value: str, default_region: str = "FR") -> str | None:
    """The phone number in E.164, the normal form of stored contacts, or None when invalid."""
    return validators.normalise_phone(value.strip(), default_region)


def identifier_hash(secret: bytes, kind: IdentifierKind, normalised: str) -> str:
    """The hex HMAC-SHA256 of `kind:normalised` under SECRET."""
    if not secret:
        raise ValueError("the suppression secret is empty: keys would be plain hashes")
    return hmac.new(secret, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def contact_keys(
    secret: bytes, email: str | None, phone: str | None, default_region: str = "FR"
) -> list[tuple[str, str]]:
    """The (kind, key) pairs of the identifiers given that are present and valid."""
    keys: list[tuple[str, str]] = []
    normal_email = normalise_email(email) if email else None
    if normal_email is not None:
        keys.append(("email", identifier_hash(secret, "email", normal_email)))
    normal_phone = normalise_phone(phone, default_region) if phone else None
    if normal_phone is not None:
        keys.append(("phone", identifier_hash(secret, "phone", normal_phone)))
    return keys
