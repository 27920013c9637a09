"""The fields criteria may name on a contact: the registry the language resolves names in; pure."""

from __future__ import annotations

from collections.abc import Mapping

from leadsift.contacts.fields import CONSENT_CHANNELS, TEXT_FIELD_LENGTHS
from leadsift.criteria.fields import FieldRegistry, FieldSpec, attribute_specs
from leadsift.qualification.stages import Stage

_TEXT_COLUMNS = ("email", "phone", "phone_raw", *TEXT_FIELD_LENGTHS)

STANDARD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "integer", "column", "id", description="the contact's number"),
    *(FieldSpec(name, "text", "column", name) for name in _TEXT_COLUMNS),
    FieldSpec("birth_date", "date", "column", "birth_date"),
    FieldSpec(
        "age",
        "integer",
        "age",
        "age",
        description="whole years from birth_date when known, else the imported age",
    ),
    FieldSpec("stage", "text", "column", "stage", choices=tuple(s.value for s in Stage)),
    FieldSpec("stage_reason", "text", "column", "stage_reason"),
    FieldSpec("fit", "integer", "column", "fit", description="fit points of the last qualify"),
    FieldSpec("created_at", "datetime", "column", "created_at"),
    FieldSpec("updated_at", "datetime", "column", "updated_at"),
    *(
        FieldSpec(f"consent.{channel}", "boolean", "consent", channel)
        for channel in CONSENT_CHANNELS
    ),
)


def contact_registry(attribute_types: Mapping[str, str]) -> FieldRegistry:
    """Standard fields, consent per channel and the workspace's custom attributes."""
    return FieldRegistry.of([*STANDARD_SPECS, *attribute_specs(attribute_types)])


# Scores stored for each contact (apart from `fit`, a column set by `qualify`).
SCORE_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "interest",
        "number",
        "score",
        "interest",
        description="decayed interest points as of the last scoring (0 when none)",
    ),
    FieldSpec(
        "probability",
        "number",
        "prediction",
        "probability",
        description="the active model's probability of converting (null until `model score`)",
    ),
    FieldSpec(
        "priority",
        "number",
        "prediction",
        "priority",
        description="probability × expected deal value − cost of the next action",
    ),
)
