"""Email and phone normalisation: reference libraries, with audited Rust-backed fast paths.

The reference functions (email-validator, phonenumbers) define the right answer. The public
functions return exactly what the reference returns for every input; they take the answer of
emval / rphonenumbers (about ten times faster) only on the common path where the two are known to
agree, and ask the reference for everything else. Rejections (about 1 % of real data) always go
to the reference, so the fast libraries can only speed up acceptances, never change a verdict by
being stricter. tests/unit/test_validators.py is the differential test that backs this.

Set LEADSIFT_REFERENCE_VALIDATORS=1 to force the reference functions (read once, at import).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Final

import phonenumbers
from email_validator import EmailNotValidError, validate_email

try:
    import emval
except ImportError:  # optional accelerator: the reference alone is always correct
    _EMVAL_IMPORTED = False
else:
    _EMVAL_IMPORTED = True

try:
    import rphonenumbers
except ImportError:  # optional accelerator: the reference alone is always correct
    _RPHONENUMBERS_IMPORTED = False
else:
    _RPHONENUMBERS_IMPORTED = True

__all__ = [
    "FAST_VALIDATORS",
    "normalise_email",
    "normalise_phone",
    "reference_normalise_email",
    "reference_normalise_phone",
]

_log = logging.getLogger(__name__)

_E164: Final = phonenumbers.PhoneNumberFormat.E164

# Calling codes whose region metadata differs between the libphonenumber release compiled into
# rphonenumbers and the installed phonenumbers, keyed by (rphonenumbers.__phonenumbers_version__,
# phonenumbers.__version__). rphonenumbers answers from the older data for these, so a sample
# cannot prove agreement: they always take the reference path. Found by diffing
# phonenumbers/data/region_*.py of the two releases (parsing code is unchanged between them), then
# widening each changed region to every region sharing its calling code (+7 is RU and KZ, +61 is
# AU, CC and CX, +290 is SH and TA, +358 is FI and AX). FR and the French overseas codes did not
# change. An unlisted version pair disables the phone fast path: drift nobody audited is not
# provably absent.
# fmt: off
_METADATA_DRIFT: Final[dict[tuple[str, str], frozenset[int]]] = {
    ("9.0.41", "9.0.43"): frozenset({
        7, 34, 40, 45, 49, 57, 61, 86, 91, 229, 233, 238, 251, 254, 263, 267, 290, 358, 506,
        592, 593, 595, 675, 856, 965, 995,
    }),
}
# fmt: on


def _reference_forced() -> bool:
    flag = os.environ.get("LEADSIFT_REFERENCE_VALIDATORS", "")
    return flag.strip().lower() in {"1", "true", "yes", "on"}


def _drifted_calling_codes() -> frozenset[int] | None:
    """Return the calling codes rphonenumbers must not answer for, or None if unaudited."""
    fast_metadata: str = rphonenumbers.__phonenumbers_version__
    reference_metadata = phonenumbers.__version__
    if fast_metadata == reference_metadata:
        return frozenset()
    drifted = _METADATA_DRIFT.get((fast_metadata, reference_metadata))
    if drifted is None:
        _log.warning(
            "rphonenumbers carries libphonenumber %s metadata but phonenumbers is %s, a pair not "
            "audited in leadsift.contacts.validators: phone numbers use phonenumbers only",
            fast_metadata,
            reference_metadata,
        )
    return drifted


def reference_normalise_email(value: str) -> str | None:
    """Return email-validator's normalised address lower-cased, or None if it is invalid."""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def reference_normalise_phone(value: str, default_region: str = "FR") -> str | None:
    """Return the E.164 form if phonenumbers parses the value as a valid number, else None."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, _E164)


_FORCE_REFERENCE: Final = _reference_forced()
_FAST_EMAIL: Final = _EMVAL_IMPORTED and not _FORCE_REFERENCE
_DRIFTED_CODES: Final = (
    _drifted_calling_codes() if _RPHONENUMBERS_IMPORTED and not _FORCE_REFERENCE else None
)
_FAST_PHONE: Final = _DRIFTED_CODES is not None

FAST_VALIDATORS: Final[bool] = _FAST_EMAIL and _FAST_PHONE


if _FAST_EMAIL:
    _emval_validate: Final[Callable[[str], Any]] = emval.EmailValidator(
        deliverable_address=False
    ).validate_email

    def normalise_email(value: str) -> str | None:
        """Return the normalised (email-validator's .normalized, lower-cased) address, or None."""
        # Non-ASCII input goes to the reference: emval applies NFKC to the local part (① becomes
        # 1, ǅ becomes dž) where email-validator applies NFC, and accepts emoji and "ab--" labels
        # in Unicode domains. A last character other than a letter covers the TLDs
        # email-validator rejects and emval accepts (a@b.123, a@1.2.3.4, a@b.c1, a@b.fr1).
        if not value.isascii() or not value[-1:].isalpha():
            return reference_normalise_email(value)
        try:
            normalized: str = _emval_validate(value).normalized
        except (SyntaxError, ValueError):
            # emval rejects; email-validator is more lenient in places (local parts over 64
            # characters), so its verdict stands.
            return reference_normalise_email(value)
        lowered = normalized.lower()
        domain = lowered.rpartition("@")[2]
        # Dotless domains (a@x) are accepted by emval only. emval decodes even invalid Punycode
        # (xn--zzhotmail.fr) that email-validator rejects. Beyond those, email-validator's
        # normalisation of an ASCII address is a change of case, so any other change means emval
        # saw something this path was not audited for.
        if "." not in domain or "xn--" in domain or lowered != value.lower():
            return reference_normalise_email(value)
        return lowered

else:

    def normalise_email(value: str) -> str | None:
        """Return the normalised (email-validator's .normalized, lower-cased) address, or None."""
        return reference_normalise_email(value)


if _DRIFTED_CODES is not None:
    _fast_parse: Final[Callable[[str, str], Any]] = rphonenumbers.parse
    _fast_is_valid: Final[Callable[[Any], bool]] = rphonenumbers.is_valid_number
    _fast_format: Final[Callable[[Any, Any], str]] = rphonenumbers.format_number
    _FAST_E164: Final[Any] = rphonenumbers.PhoneNumberFormat.E164
    _FastParseError: Final[type[Exception]] = rphonenumbers.NumberParseException
    _FAST_CODES_EXCLUDED: Final[frozenset[int]] = _DRIFTED_CODES
    # A default region's metadata decides how national numbers and IDD prefixes are read, so
    # regions under a drifted calling code stay with the reference (defensive: the audited pair
    # changed no prefixes), as do unknown region codes ("fr", "ZZ", "").
    _FAST_REGIONS: Final[frozenset[str]] = frozenset(phonenumbers.SUPPORTED_REGIONS) - {
        region
        for code in _DRIFTED_CODES
        for region in phonenumbers.region_codes_for_country_code(code)
    }

    def normalise_phone(value: str, default_region: str = "FR") -> str | None:
        """Return the E.164 form if phonenumbers parses it as a valid number, else None."""
        if default_region in _FAST_REGIONS:
            try:
                number = _fast_parse(value, default_region)
            except _FastParseError:
                return reference_normalise_phone(value, default_region)
            # A rejection is re-checked by the reference, which may know newer number ranges.
            if _fast_is_valid(number) and number.country_code not in _FAST_CODES_EXCLUDED:
                return _fast_format(number, _FAST_E164)
        return reference_normalise_phone(value, default_region)

else:

    def normalise_phone(value: str, default_region: str = "FR") -> str | None:
        """Return the E.164 form if phonenumbers parses it as a valid number, else None."""
        return reference_normalise_phone(value, default_region)
