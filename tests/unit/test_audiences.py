"""Ad-audience identifiers: normal forms per destination and their SHA-256 hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from leadsift.outreach.audiences import (
    COLUMNS,
    audience_row,
    normalise_email,
    normalise_phone,
    sha256_hex,
)

SPACED_PHONE = "+33 6 12 34 56 78"
# Pinned once from hashlib: a change in the normal form or the encoding breaks these.
META_PHONE_HASH = "8a3e7886c9335e82e02299fa3e87b46e2de3b0c63d56003e30a5029394a47661"
GOOGLE_PHONE_HASH = "42d573cfc315801d4cd8eddd5416b416a0bf298b9b9e12d6b07442c91db42bd8"


def reference_sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def test_meta_phone_hash_is_of_the_digits_with_country_code() -> None:
    row = audience_row(None, SPACED_PHONE, "meta")
    assert row == {"email": "", "phone": reference_sha256("33612345678")}
    assert row["phone"] == META_PHONE_HASH


def test_google_phone_hash_is_of_e164_with_the_plus() -> None:
    row = audience_row(None, SPACED_PHONE, "google")
    assert row == {"Email": "", "Phone": reference_sha256("+33612345678")}
    assert row["Phone"] == GOOGLE_PHONE_HASH


def test_sha256_hex_is_lower_case_hex_of_utf8() -> None:
    assert sha256_hex("élodie@example.fr") == reference_sha256("élodie@example.fr")
    assert sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("google", "johndoe@gmail.com"),
        ("meta", "john.doe@gmail.com"),
        ("csv", "john.doe@gmail.com"),
    ],
)
def test_email_normal_forms(destination: str, expected: str) -> None:
    assert normalise_email(" John.Doe@Gmail.com ", destination) == expected


def test_google_removes_dots_for_googlemail_too_and_only_in_the_local_part() -> None:
    assert normalise_email("j.doe@googlemail.com", "google") == "jdoe@googlemail.com"
    assert normalise_email("J.Doe@Example.co.uk", "google") == "j.doe@example.co.uk"
    assert normalise_email("j.doe@gmail.com.evil.fr", "google") == "j.doe@gmail.com.evil.fr"


@pytest.mark.parametrize("value", ["", "   ", "no-at-sign", "a@b@c.fr", "@example.fr", "john@"])
def test_unusable_emails(value: str) -> None:
    for destination in COLUMNS:
        assert normalise_email(value, destination) is None


@pytest.mark.parametrize(
    "value",
    [
        "+33612345678",
        "+33 6 12 34 56 78",
        "+33.6.12.34.56.78",
        "+33-6-12-34-56-78",
        "+33 (0)6 12 34 56 78",
    ],
)
def test_phone_separators_are_stripped(value: str) -> None:
    assert normalise_phone(value, "google") == "+33612345678"
    assert normalise_phone(value, "csv") == "+33612345678"
    assert normalise_phone(value, "meta") == "33612345678"


def test_phone_with_area_code_in_parentheses() -> None:
    assert normalise_phone("+1 (212) 555-0100", "meta") == "12125550100"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0612345678",  # national form, no country code
        "33612345678",  # no "+"
        "+0612345678",  # country codes never start with 0
        "+1234567",  # 7 digits: too short
        "+1234567890123456",  # 16 digits: too long
        "+33 6 12 ab 56 78",
        "++33612345678",
    ],
)
def test_implausible_phones(value: str) -> None:
    for destination in COLUMNS:
        assert normalise_phone(value, destination) is None


def test_rows_per_destination_use_their_columns_in_order() -> None:
    email, phone = "Jane.Roe@Gmail.com", "+33612345678"
    google = audience_row(email, phone, "google")
    meta = audience_row(email, phone, "meta")
    csv = audience_row(email, phone, "csv")
    assert google == {
        "Email": reference_sha256("janeroe@gmail.com"),
        "Phone": reference_sha256("+33612345678"),
    }
    assert meta == {
        "email": reference_sha256("jane.roe@gmail.com"),
        "phone": reference_sha256("33612345678"),
    }
    assert csv == {
        "email_sha256": reference_sha256("jane.roe@gmail.com"),
        "phone_sha256": reference_sha256("+33612345678"),
    }
    assert COLUMNS == {
        "google": ("Email", "Phone"),
        "meta": ("email", "phone"),
        "csv": ("email_sha256", "phone_sha256"),
    }
    for destination, row in (("google", google), ("meta", meta), ("csv", csv)):
        assert row is not None
        assert tuple(row) == COLUMNS[destination]


def test_unusable_identifier_is_left_empty() -> None:
    row = audience_row("jane@example.fr", "0612345678", "csv")
    assert row == {"email_sha256": reference_sha256("jane@example.fr"), "phone_sha256": ""}


def test_no_usable_identifier_gives_no_row() -> None:
    assert audience_row(None, None, "meta") is None
    assert audience_row("not an email", "12", "google") is None
    assert audience_row("", "", "csv") is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: normalise_email("a@b.fr", "tiktok"),
        lambda: normalise_phone("+33612345678", "Meta"),
        lambda: audience_row("a@b.fr", None, "linkedin"),
        lambda: audience_row(None, None, "x"),
    ],
)
def test_unknown_destination_names_the_three(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="google, meta, csv"):
        call()
