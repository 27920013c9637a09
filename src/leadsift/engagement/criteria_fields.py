"""The fields criteria may name on an event (interest rules, `count(… where …)`); pure."""

from __future__ import annotations

import difflib
from functools import cache

from leadsift.criteria.fields import FieldRegistry, FieldSpec

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Where an event comes from, beside its type, contact and properties (in storage order).
EXTRA_FIELDS = ("source", "campaign", *UTM_FIELDS)
EVENT_TEXT_FIELDS = ("type", *EXTRA_FIELDS, "anonymous_id")
EVENT_SPECS: tuple[FieldSpec, ...] = (
    *(FieldSpec(name, "text", "column", name) for name in EVENT_TEXT_FIELDS),
    FieldSpec("occurred_at", "datetime", "column", "occurred_at"),
    FieldSpec("received_at", "datetime", "column", "received_at"),
)


@cache
def event_registry() -> FieldRegistry:
    """Event columns, and `properties.<key>` typed by the literal it is compared with."""
    return FieldRegistry.of(EVENT_SPECS, properties=True)


# The event types leadsift itself produces or expects (DESIGN §6); any other lower-case name
# is a custom type.
STANDARD_EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "form_submitted",
    "email_sent",
    "email_delivered",
    "email_opened",
    "email_clicked",
    "email_bounced",
    "email_complained",
    "email_unsubscribed",
    "email_replied",
    "sms_sent",
    "sms_delivered",
    "sms_replied",
    "sms_stop",
    "call_attempted",
    "call_connected",
    "call_outcome",
    "call_interested",
    "campaign_holdout",
    "callback_requested",
    "promo_issued",
    "promo_redeemed",
    "purchase",
)


def event_type_problem(name: str) -> str | None:
    """A message when NAME looks like a misspelt standard type (`email_click`), else None."""
    if name in STANDARD_EVENT_TYPES:
        return None
    close = difflib.get_close_matches(name, STANDARD_EVENT_TYPES, n=1, cutoff=0.8)
    if not close:
        return None  # a custom type
    return (
        f"'{name}' is not a standard event type — did you mean '{close[0]}'? "
        "(custom types are fine when nothing standard is meant: name it further apart)"
    )
