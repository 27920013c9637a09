"""SQL of the call queue: an agent's prospects in call order, the facts the calling rules need,
touches and call state."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner, User
from leadsift.agents.models import CallState, Touch
from leadsift.contacts.models import ConsentRecord, Contact, ContactPrediction, ContactScore
from leadsift.kit.bulk import dialect_insert
from leadsift.outreach.models import Suppression
from leadsift.qualification.models import StageChange
from leadsift.qualification.stages import Stage

_CANDIDATE_COLUMNS = (
    Contact.id,
    Contact.phone,
    Contact.company,
    ContactOwner.team_id,
    CallState.callback_at,
    CallState.last_refusal_at,
    CallState.wrong_phone,
    ContactPrediction.priority,
    Contact.fit,
    ContactScore.interest,
)


def queue_page(
    session: Session,
    user_id: int,
    team_ids: Collection[int],
    now: datetime,
    *,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """An agent's qualified prospects (theirs and their teams' queues) in call order: call-backs
    that are due first (oldest first), then by priority, else fit + interest, highest first."""
    mine = ContactOwner.user_id == user_id
    owned = or_(mine, ContactOwner.team_id.in_(sorted(team_ids))) if team_ids else mine
    due = case((CallState.callback_at <= now, 0), else_=1)
    points = func.coalesce(Contact.fit, 0) + func.coalesce(ContactScore.interest, 0)
    query = (
        select(*_CANDIDATE_COLUMNS)
        .select_from(ContactOwner)
        .join(Contact, Contact.id == ContactOwner.contact_id)
        .outerjoin(CallState, CallState.contact_id == Contact.id)
        .outerjoin(ContactPrediction, ContactPrediction.contact_id == Contact.id)
        .outerjoin(ContactScore, ContactScore.contact_id == Contact.id)
        .where(owned, Contact.stage == Stage.QUALIFIED.value)
        .order_by(
            due,
            CallState.callback_at,
            ContactPrediction.priority.desc().nulls_last(),
            points.desc(),
            Contact.id,
        )
        .offset(offset)
        .limit(limit)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def queue_size(session: Session, user_id: int, team_ids: Collection[int]) -> int:
    """How many qualified prospects an agent's queue holds."""
    mine = ContactOwner.user_id == user_id
    owned = or_(mine, ContactOwner.team_id.in_(sorted(team_ids))) if team_ids else mine
    query = (
        select(func.count())
        .select_from(ContactOwner)
        .join(Contact, Contact.id == ContactOwner.contact_id)
        .where(owned, Contact.stage == Stage.QUALIFIED.value)
    )
    return int(session.scalar(query) or 0)


def call_attempts(
    session: Session, contact_ids: Sequence[int], since: datetime
) -> dict[int, list[datetime]]:
    """The times of calls to each contact since SINCE."""
    found: dict[int, list[datetime]] = {i: [] for i in contact_ids}
    if not contact_ids:
        return found
    query = select(Touch.contact_id, Touch.at).where(
        Touch.contact_id.in_(list(contact_ids)), Touch.channel == "phone", Touch.at > since
    )
    for contact_id, at in session.execute(query):
        found[int(contact_id)].append(at)
    return found


def phone_consent(session: Session, contact_ids: Sequence[int]) -> dict[int, bool]:
    """The latest phone consent word of each contact that has one."""
    if not contact_ids:
        return {}
    latest = (
        select(func.max(ConsentRecord.id))
        .where(
            ConsentRecord.contact_id.in_(list(contact_ids)),
            ConsentRecord.channel == "phone",
            ConsentRecord.purpose == "marketing",
        )
        .group_by(ConsentRecord.contact_id)
    )
    query = select(ConsentRecord.contact_id, ConsentRecord.granted).where(
        ConsentRecord.id.in_(latest)
    )
    return {int(c): bool(g) for c, g in session.execute(query)}


def phone_suppressions(session: Session, hashes: Collection[str]) -> dict[str, str]:
    """The suppression reason of each of these phone hashes suppressed for calls."""
    if not hashes:
        return {}
    query = select(Suppression.identifier_hash, Suppression.reason).where(
        Suppression.identifier_hash.in_(sorted(hashes)),
        Suppression.channel.in_(["phone", "all"]),
    )
    return {h: r for h, r in session.execute(query)}


def add_touch(session: Session, touch: Touch) -> Touch:
    """Store a touch and flush so it has an id."""
    session.add(touch)
    session.flush()
    return touch


def touches_of(session: Session, contact_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """A contact's latest touches, newest first, with the agent's name."""
    query = (
        select(Touch.at, Touch.channel, Touch.outcome, Touch.reason, Touch.amount, User.name)
        .join(User, User.id == Touch.user_id)
        .where(Touch.contact_id == contact_id)
        .order_by(Touch.at.desc(), Touch.id.desc())
        .limit(limit)
    )
    return [
        {"at": at, "channel": ch, "outcome": out, "reason": r, "amount": amt, "agent": name}
        for at, ch, out, r, amt, name in session.execute(query)
    ]


def save_call_state(session: Session, contact_id: int, values: dict[str, Any]) -> None:
    """Write what the queue keeps of a contact's calls (the given columns only)."""
    insert = dialect_insert(session)
    statement = insert(CallState).values(contact_id=contact_id, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["contact_id"], set_=values))


def qualifications(session: Session, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Each contact's latest move to qualified within [SINCE, UNTIL): when, its owner and
    source, and its first touch by a person at or after it."""
    moved = (
        select(
            StageChange.contact_id.label("contact_id"),
            func.max(StageChange.changed_at).label("qualified_at"),
        )
        .where(
            StageChange.to_stage == Stage.QUALIFIED.value,
            StageChange.changed_at >= since,
            StageChange.changed_at < until,
        )
        .group_by(StageChange.contact_id)
        .subquery()
    )
    first_touch = (
        select(func.min(Touch.at))
        .where(Touch.contact_id == moved.c.contact_id, Touch.at >= moved.c.qualified_at)
        .scalar_subquery()
    )
    query = (
        select(
            moved.c.contact_id,
            moved.c.qualified_at,
            first_touch.label("first_touch_at"),
            ContactOwner.user_id,
            ContactOwner.team_id,
            Contact.source,
        )
        .join(Contact, Contact.id == moved.c.contact_id)
        .outerjoin(ContactOwner, ContactOwner.contact_id == moved.c.contact_id)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def untouched_since_qualified(
    session: Session, cutoff: datetime, limit: int
) -> list[dict[str, Any]]:
    """Qualified prospects, qualified before CUTOFF, with no touch since: longest waiting first."""
    touched = select(Touch.id).where(
        Touch.contact_id == Contact.id, Touch.at >= Contact.stage_changed_at
    )
    query = (
        select(
            Contact.id,
            Contact.stage_changed_at.label("qualified_at"),
            Contact.source,
            ContactOwner.user_id,
            ContactOwner.team_id,
        )
        .outerjoin(ContactOwner, ContactOwner.contact_id == Contact.id)
        .where(
            Contact.stage == Stage.QUALIFIED.value,
            Contact.stage_changed_at < cutoff,
            ~touched.exists(),
        )
        .order_by(Contact.stage_changed_at, Contact.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in session.execute(query)]
