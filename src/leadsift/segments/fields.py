"""The fields a segment may use: the contact's profile, its scores and its events."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadsift.contacts import repository
from leadsift.contacts.criteria_fields import SCORE_SPECS, contact_registry
from leadsift.criteria import FieldRegistry
from leadsift.engagement.criteria_fields import event_registry


def profile_registry(session: Session) -> FieldRegistry:
    """Standard fields, consent per channel and the workspace's custom attributes."""
    definitions = repository.attribute_definitions(session)
    return contact_registry({key: d.value_type for key, d in definitions.items()})


def field_registry(session: Session) -> FieldRegistry:
    """Everything criteria may read about a contact: profile, scores and event aggregates."""
    return profile_registry(session).extended(SCORE_SPECS, events=event_registry())
