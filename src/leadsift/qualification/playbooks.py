"""Playbooks in a workspace: validated against its fields, stored as versions, made active."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from leadsift.criteria import CriteriaError, FieldRegistry
from leadsift.criteria.checker import compile_criteria
from leadsift.engagement.criteria_fields import event_registry, event_type_problem
from leadsift.kit.clock import utcnow
from leadsift.qualification import repository
from leadsift.qualification.models import PlaybookVersion
from leadsift.qualification.playbook import ExpressionKind, Playbook, load_playbook
from leadsift.segments.fields import field_registry, profile_registry


def _checker(registries: dict[str, FieldRegistry]) -> Callable[[str, ExpressionKind], str | None]:
    def check(text: str, kind: ExpressionKind) -> str | None:
        if kind == "event":
            return event_type_problem(text)
        try:
            compile_criteria(text, registries[kind])
        except CriteriaError as error:
            return error.message
        return None

    return check


def registries(session: Session) -> dict[str, FieldRegistry]:
    """The fields each kind of playbook expression may use.

    Eligibility and fit read the profile; interest rules read one event (its type is the rule's);
    the qualify policy and assignment rules read the profile, the scores and aggregates over
    the contact's events.
    """
    profile = profile_registry(session)
    return {
        "eligibility": profile,
        "fit": profile,
        "interest": event_registry(),
        "qualify": field_registry(session),
        "assignment": field_registry(session),
    }


def load(session: Session, text: str, source: str) -> Playbook:
    """A validated playbook: structure and every expression checked against known fields."""
    return load_playbook(text, source=source, check_expression=_checker(registries(session)))


def store_version(session: Session, playbook: Playbook, text: str, source: str) -> PlaybookVersion:
    """The stored version of this playbook: the latest one if unchanged, else a new one."""
    fingerprint = playbook.fingerprint()
    latest = repository.latest_version(session, playbook.name)
    if latest is not None and latest.fingerprint == fingerprint:
        latest.activated_at = utcnow()
        session.flush()
        return latest
    version = PlaybookVersion(
        name=playbook.name,
        version=(latest.version + 1) if latest is not None else 1,
        fingerprint=fingerprint,
        document=playbook.canonical(),
        source_text=text,
        source_name=source,
        applied_at=utcnow(),
        activated_at=utcnow(),
    )
    return repository.add_version(session, version)
