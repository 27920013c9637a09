"""SQL of assignment: prospects waiting for an owner, owners, loads and round-robin positions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal, select, update
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner
from leadsift.agents.models import RoundRobinPosition
from leadsift.contacts.models import Contact, ContactPrediction, ContactScore
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sequences import pieces
from leadsift.qualification.stages import Stage

NO_RULE = -1
# Ranks of contacts the model scored sit above any fit + interest: the queue takes predicted
# prospects first, by priority, then the others by points (two scales never compared).
PREDICTED = 1e12


def _rank() -> Any:
    """The call-order rank of the owner row's contact, as a scalar subquery (NULL if closed)."""
    points = func.coalesce(Contact.fit, 0) + func.coalesce(ContactScore.interest, 0)
    value = case(
        (Contact.stage != Stage.QUALIFIED.value, None),
        (ContactPrediction.priority.is_not(None), PREDICTED + ContactPrediction.priority),
        else_=points,
    )
    return (
        select(value)
        .select_from(Contact)
        .outerjoin(ContactPrediction, ContactPrediction.contact_id == Contact.id)
        .outerjoin(ContactScore, ContactScore.contact_id == Contact.id)
        .where(Contact.id == ContactOwner.contact_id)
        .scalar_subquery()
    )


def refresh_ranks(session: Session, contact_ids: Collection[int] | None) -> None:
    """Recompute the call order of these contacts' owner rows (all of them with None)."""
    statement = (
        update(ContactOwner).values(queue_rank=_rank()).execution_options(synchronize_session=False)
    )
    if contact_ids is None:
        session.execute(statement)
        return
    for piece in pieces(sorted(contact_ids)):
        session.execute(statement.where(ContactOwner.contact_id.in_(piece)))


def waiting_prospects(
    session: Session, conditions: Sequence[ColumnElement[bool]], contact_ids: Collection[int] | None
) -> list[tuple[int, int]]:
    """(contact id, index of the first matching condition or NO_RULE) of qualified prospects
    without an owner, longest qualified first; CONTACT_IDS limits the search."""
    rule = (
        case(*((condition, index) for index, condition in enumerate(conditions)), else_=NO_RULE)
        if conditions
        else literal(NO_RULE)
    )
    owned = select(ContactOwner.contact_id).where(ContactOwner.contact_id == Contact.id)
    query = (
        select(Contact.id, rule)
        .where(Contact.stage == Stage.QUALIFIED.value, ~owned.exists())
        .order_by(Contact.stage_changed_at, Contact.id)
    )
    if contact_ids is None:
        return [(int(i), int(r)) for i, r in session.execute(query)]
    found: list[tuple[int, int]] = []
    for piece in pieces(sorted(contact_ids)):
        found += [(int(i), int(r)) for i, r in session.execute(query.where(Contact.id.in_(piece)))]
    found.sort(key=lambda row: row[0])
    return found


def add_owners(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Give contacts their owner (a contact that has one keeps it)."""
    insert = dialect_insert(session)
    statement = insert(ContactOwner).on_conflict_do_nothing(index_elements=["contact_id"])
    for piece in pieces(list(rows), 5_000):
        session.execute(statement, list(piece))


def set_owner(session: Session, contact_id: int, values: dict[str, Any]) -> None:
    """Give one contact an owner, replacing the one it had."""
    insert = dialect_insert(session)
    statement = insert(ContactOwner).values(contact_id=contact_id, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["contact_id"], set_=values))


def release_open(session: Session, user_id: int) -> list[int]:
    """Take USER_ID's qualified prospects back (their other contacts keep them as owner)."""
    open_ids = select(Contact.id).where(Contact.stage == Stage.QUALIFIED.value)
    ids = list(
        session.scalars(
            select(ContactOwner.contact_id).where(
                ContactOwner.user_id == user_id, ContactOwner.contact_id.in_(open_ids)
            )
        )
    )
    for piece in pieces(ids):
        session.execute(
            delete(ContactOwner)
            .where(ContactOwner.contact_id.in_(piece))
            .execution_options(synchronize_session=False)
        )
    return ids


def claim_from_team(
    session: Session, contact_id: int, team_ids: Collection[int], user_id: int, now: datetime
) -> bool:
    """Move a prospect from one of TEAM_IDS' queues to USER_ID; False if someone was faster."""
    result = session.execute(
        update(ContactOwner)
        .where(
            ContactOwner.contact_id == contact_id,
            ContactOwner.team_id.in_(sorted(team_ids)),
            ContactOwner.user_id.is_(None),
        )
        .values(user_id=user_id, team_id=None, rule="claimed", assigned_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def open_prospects(session: Session, user_ids: Collection[int]) -> dict[int, int]:
    """How many qualified prospects each of USER_IDS owns now."""
    if not user_ids:
        return {}
    query = (
        select(ContactOwner.user_id, func.count())
        .join(Contact, Contact.id == ContactOwner.contact_id)
        .where(ContactOwner.user_id.in_(sorted(user_ids)), Contact.stage == Stage.QUALIFIED.value)
        .group_by(ContactOwner.user_id)
    )
    return {int(user or 0): int(n) for user, n in session.execute(query)}


def round_robin_state(session: Session, key: str) -> dict[str, int]:
    """Where the round robin KEY stands (empty when it never ran)."""
    state = session.scalars(
        select(RoundRobinPosition.state).where(RoundRobinPosition.key == key)
    ).first()
    return {str(k): int(v) for k, v in (state or {}).items()}


def save_round_robin_state(
    session: Session, key: str, state: dict[str, int], now: datetime
) -> None:
    """Remember where the round robin KEY stands."""
    insert = dialect_insert(session)
    statement = insert(RoundRobinPosition).values(key=key, state=state, updated_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"], set_={"state": state, "updated_at": now}
        )
    )
