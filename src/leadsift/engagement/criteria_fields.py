"""The fields criteria may name on an event (interest rules, `count(… where …)`); pure."""

from __future__ import annotations

from functools import cache

from leadsift.criteria.fields import FieldRegistry, FieldSpec

EVENT_TEXT_FIELDS = (
    "type",
    "source",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "anonymous_id",
)
EVENT_SPECS: tuple[FieldSpec, ...] = (
    *(FieldSpec(name, "text", "column", name) for name in EVENT_TEXT_FIELDS),
    FieldSpec("occurred_at", "datetime", "column", "occurred_at"),
    FieldSpec("received_at", "datetime", "column", "received_at"),
)


@cache
def event_registry() -> FieldRegistry:
    """Event columns, and `properties.<key>` typed by the literal it is compared with."""
    return FieldRegistry.of(EVENT_SPECS, properties=True)
