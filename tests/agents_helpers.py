"""Helpers for the agents tests: people, prospects and an active playbook in a test session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.access.schemas import Role
from leadsift.agents.repository import refresh_ranks
from leadsift.contacts.models import Contact, ContactPrediction
from leadsift.qualification import playbooks

BASE_PLAYBOOK = """name: Agents test
eligibility: age >= 18
"""


def activate(session: Session, extra: str = "") -> None:
    """Apply a playbook (the base one plus EXTRA sections) as the active one."""
    text = BASE_PLAYBOOK + extra
    playbooks.store_version(session, playbooks.load(session, text, "pb.yaml"), text, "pb.yaml")
    session.flush()


def people(session: Session, *names: str, role: Role = Role.AGENT, **options: Any) -> None:
    """Add users (agents by default)."""
    for name in names:
        access.add_user(session, name, role, **options)


def prospects(
    session: Session,
    count: int,
    *,
    stage: str = "qualified",
    qualified_at: datetime | None = None,
    start: int = 0,
    **fields: Any,
) -> list[int]:
    """COUNT contacts in STAGE with unique phones and emails; their ids in creation order."""
    at = qualified_at or datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    rows = [
        {
            "email": f"p{start + i}@example.com",
            "phone": f"+3361{start + i:07d}",
            "stage": stage,
            "stage_changed_at": at + timedelta(seconds=i),
            "attrs": {},
            "created_at": at,
            "updated_at": at,
            **fields,
        }
        for i in range(count)
    ]
    ids = list(session.scalars(insert(Contact).returning(Contact.id), rows))
    session.flush()
    return sorted(ids)


def predictions(session: Session, priorities: dict[int, float]) -> None:
    """Give contacts a priority (as `model score` would, with its call-order refresh)."""
    now = datetime(2026, 11, 30, tzinfo=UTC)
    session.add_all(
        ContactPrediction(contact_id=c, model_id=1, probability=0.5, priority=p, predicted_at=now)
        for c, p in priorities.items()
    )
    session.flush()
    refresh_ranks(session, list(priorities))


def owners_of(session: Session, ids: Sequence[int]) -> dict[int, str | None]:
    """Contact id -> owner ("alice", "team:lyon") or None."""
    from leadsift.access.models import ContactOwner, Team, User

    found: dict[int, str | None] = dict.fromkeys(ids)
    for owner in session.query(ContactOwner).filter(ContactOwner.contact_id.in_(list(ids))):
        if owner.user_id is not None:
            user = session.get(User, owner.user_id)
            found[owner.contact_id] = user.name if user else "?"
        else:
            team = session.get(Team, owner.team_id)
            found[owner.contact_id] = f"team:{team.name}" if team else "?"
    return found
