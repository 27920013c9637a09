"""The standard contact fields, their column sizes and the consent channels an import can set."""

from __future__ import annotations

from typing import Final

# Standard fields a file column can map to, in export order; lengths match the ORM columns.
TEXT_FIELD_LENGTHS: Final[dict[str, int]] = {
    "first_name": 200,
    "last_name": 200,
    "postal_code": 20,
    "city": 200,
    "region": 200,
    "country": 100,
    "company": 300,
    "job_title": 300,
    "source": 200,
    "external_id": 200,
}
STANDARD_FIELDS: Final[tuple[str, ...]] = (
    "external_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "age",
    "postal_code",
    "city",
    "region",
    "country",
    "company",
    "job_title",
    "source",
)
# Stored alongside the standard fields but never mapped directly from a column.
DERIVED_FIELDS: Final[tuple[str, ...]] = ("phone_raw",)
CONTACT_VALUE_FIELDS: Final[tuple[str, ...]] = STANDARD_FIELDS + DERIVED_FIELDS
# The storage-ready tuple a normalised row carries: values in this order, dates as ISO text,
# attributes as JSON text; the bulk insert appends id, batch, stage and timestamps.
RECORD_COLUMNS: Final[tuple[str, ...]] = (*CONTACT_VALUE_FIELDS, "attrs")
RECORD_POSITION: Final[dict[str, int]] = {name: i for i, name in enumerate(RECORD_COLUMNS)}
IDENTIFIER_FIELDS: Final[tuple[str, ...]] = ("email", "phone", "external_id")

CONSENT_CHANNELS: Final[tuple[str, ...]] = ("email", "sms", "phone", "ad_audience")
CONSENT_FIELDS: Final[dict[str, str]] = {f"consent_{c}": c for c in CONSENT_CHANNELS}

# Names an attribute key may not take: they already mean something in criteria and exports.
RESERVED_KEYS: Final[frozenset[str]] = frozenset(
    {
        *CONTACT_VALUE_FIELDS,
        *CONSENT_FIELDS,
        "id",
        "stage",
        "attrs",
        "consent",
        "created_at",
        "updated_at",
        "fit",
        "interest",
        "probability",
        "priority",
    }
)
IGNORE_TARGETS: Final[frozenset[str]] = frozenset({"ignore", "-"})
