"""Ad-audience identifiers: normalised per destination, then SHA-256 hashed; pure.

Each platform matches hashes of identifiers in its own normal form, so one wrong character
(a "+" kept for Meta, a dot kept in a Gmail address for Google) loses the match:
- Google Customer Match: trimmed lower-case emails, dots removed before "@gmail.com" and
  "@googlemail.com"; phones in E.164 with the "+". CSV headers "Email" and "Phone".
- Meta custom audiences: trimmed lower-case emails; phones as digits only with the country code,
  no "+" and no leading zeros.
- csv (a file for any other tool): emails as for Meta, phones in E.164.
"""

from __future__ import annotations

import hashlib
import re

DESTINATIONS = ("google", "meta", "csv")
COLUMNS: dict[str, tuple[str, str]] = {
    "google": ("Email", "Phone"),
    "meta": ("email", "phone"),
    "csv": ("email_sha256", "phone_sha256"),
}
_GOOGLE_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# Country codes never start with 0; E.164 allows at most 15 digits.
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")


def normalise_email(value: str, destination: str) -> str | None:
    """The email in DESTINATION's normal form, or None when it is not an address."""
    _check_destination(destination)
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain:
        return None
    if destination == "google" and domain in _GOOGLE_DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def normalise_phone(e164: str, destination: str) -> str | None:
    """The E.164 phone in DESTINATION's normal form, or None when it is not plausible E.164."""
    _check_destination(destination)
    # "+33 (0)6 …" writes the trunk zero that E.164 drops: keep it out of the digits.
    cleaned = _PHONE_SEPARATORS.sub("", e164.replace("(0)", ""))
    if not _E164.fullmatch(cleaned):
        return None
    return cleaned[1:] if destination == "meta" else cleaned


def sha256_hex(value: str) -> str:
    """The lower-case hex SHA-256 of VALUE encoded in UTF-8."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def audience_row(email: str | None, phone: str | None, destination: str) -> dict[str, str] | None:
    """The hashed identifiers under DESTINATION's columns ("" when unusable), or None if none."""
    _check_destination(destination)
    normal_email = normalise_email(email, destination) if email else None
    normal_phone = normalise_phone(phone, destination) if phone else None
    if normal_email is None and normal_phone is None:
        return None
    email_column, phone_column = COLUMNS[destination]
    return {
        email_column: sha256_hex(normal_email) if normal_email is not None else "",
        phone_column: sha256_hex(normal_phone) if normal_phone is not None else "",
    }


def _check_destination(destination: str) -> None:
    if destination not in COLUMNS:
        raise ValueError(
            f"unknown audience destination {destination!r}: use {', '.join(DESTINATIONS)}"
        )
