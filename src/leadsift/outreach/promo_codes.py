"""Promo codes: generation from a CSPRNG, the forms people type and print, and the redemption
rule; pure.

Generated characters avoid 0/O and 1/I/L, which are confused when a code is read aloud, printed
or typed from paper. A program's prefix may use any capital letter or digit, so typed codes are
checked against A-Z0-9 and looked up as they are.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from leadsift.errors import InvalidInputError

ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
MAX_PREFIX_LENGTH: Final = 10
# 31^6 ≈ 890 million: below that, codes become guessable by anyone trying a few thousand.
MIN_LENGTH: Final = 6
MAX_LENGTH: Final = 32
MAX_CODE_LENGTH: Final = MAX_PREFIX_LENGTH + MAX_LENGTH
DISPLAY_GROUP: Final = 4
_PREFIX: Final = re.compile(rf"[A-Z0-9]{{0,{MAX_PREFIX_LENGTH}}}")
_TYPED: Final = re.compile(r"[A-Z0-9]+")
# What people put between groups: spaces of any kind and dashes.
_SEPARATORS: Final = re.compile(r"[\s\-]+")


def new_code(length: int = 10, prefix: str = "") -> str:
    """A fresh random code: PREFIX then LENGTH characters drawn from ALPHABET."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise InvalidInputError(
            f"promo code length {length}: give {MIN_LENGTH} to {MAX_LENGTH} random characters"
        )
    if _PREFIX.fullmatch(prefix) is None:
        raise InvalidInputError(
            f"promo code prefix {prefix!r}: use up to {MAX_PREFIX_LENGTH} capital letters "
            "A-Z and digits 0-9, e.g. SUMMER26"
        )
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise_code(text: str) -> str | None:
    """The code as stored, from what someone typed (case, spaces, dashes ignored), or None."""
    typed = _SEPARATORS.sub("", text)
    # Checked before upper-casing: "ß".upper() is "SS", and no code holds a non-ASCII letter.
    if not typed.isascii() or len(typed) > MAX_CODE_LENGTH:
        return None
    code = typed.upper()
    return code if _TYPED.fullmatch(code) else None


def display_code(code: str) -> str:
    """The code in groups of four separated by dashes, for print (ABCD-EFGH-JK)."""
    return "-".join(code[i : i + DISPLAY_GROUP] for i in range(0, len(code), DISPLAY_GROUP))


@dataclass(frozen=True)
class ProgramTerms:
    """The conditions of a promo program that decide whether a code may be redeemed."""

    valid_from: datetime | None
    valid_until: datetime | None
    max_redemptions: int | None
    one_per_customer: bool


@dataclass(frozen=True)
class CodeFacts:
    """What is known about a code and its program at the moment of redemption."""

    owner_contact_id: int | None
    redeemed_at: datetime | None
    program_redemptions: int  # redemptions of the program so far
    owner_redeemed_in_program: bool  # the owner already redeemed another code of this program


def closed_reason(
    key: str,
    valid_until: datetime | None,
    max_redemptions: int | None,
    redemptions: int,
    now: datetime,
) -> str | None:
    """Why program KEY may give no more codes (it ended, or reached its redemptions), or None."""
    # Codes that are dead on arrival would only disappoint the people who get them.
    if valid_until is not None and valid_until <= now:
        return (
            f"promo program {key!r} ended on {valid_until.isoformat()}: "
            "create a new program or choose another"
        )
    if max_redemptions is not None and redemptions >= max_redemptions:
        return (
            f"promo program {key!r} has reached its {max_redemptions} "
            "redemptions: create a new program or choose another"
        )
    return None


def _code_refusal(facts: CodeFacts, presented_by: int | None) -> tuple[str, str] | None:
    if facts.redeemed_at is not None:
        when = facts.redeemed_at.date().isoformat()
        return "already_used", f"this code was already redeemed (on {when}); each code works once"
    # A code issued to nobody (a printed flyer) may be redeemed by whoever holds it.
    owner = facts.owner_contact_id
    if presented_by is not None and owner is not None and presented_by != owner:
        return "foreign", "this code was issued to another customer; only its owner can redeem it"
    return None


def _program_refusal(
    terms: ProgramTerms, facts: CodeFacts, now: datetime
) -> tuple[str, str] | None:
    if terms.valid_from is not None and now < terms.valid_from:
        return "not_yet_valid", f"this code is valid from {terms.valid_from.isoformat()}"
    if terms.valid_until is not None and now > terms.valid_until:
        return "expired", f"this code expired at {terms.valid_until.isoformat()}"
    limit = terms.max_redemptions
    if limit is not None and facts.program_redemptions >= limit:
        return "exhausted", f"the program reached its limit of {limit} redemptions"
    if terms.one_per_customer and facts.owner_redeemed_in_program:
        return (
            "one_per_customer",
            "this customer already redeemed a code of this program (one per customer)",
        )
    return None


def refusal(
    terms: ProgramTerms, facts: CodeFacts, presented_by: int | None, now: datetime
) -> tuple[str, str] | None:
    """(reason code, message) when the code may not be redeemed now, else None."""
    return _code_refusal(facts, presented_by) or _program_refusal(terms, facts, now)
