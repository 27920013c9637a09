"""SQL of the interest policy: who qualifies, converts or is recycled, and writing the moves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.criteria import Moment
from leadsift.criteria.sql import to_sql
from leadsift.engagement.models import Event
from leadsift.qualification.models import StageChange
from leadsift.qualification.policy import (
    CONVERSION_EVENTS,
    CONVERTED_STAGES,
    HAND_RAISER_EVENTS,
    REQUALIFIED_REASONS,
    CompiledPolicy,
    Move,
)
from leadsift.qualification.stages import Stage
from leadsift.scoring.repository import rule_condition
from leadsift.segments.repository import WorkspaceSqlFields

_PIECE = 5_000
_CONTACT_COLUMNS = ("id", "stage", "stage_reason", "stage_changed_at", "fit")


def _pieces(ids: Sequence[int] | None) -> list[Sequence[int] | None]:
    if ids is None:
        return [None]
    return [ids[i : i + _PIECE] for i in range(0, len(ids), _PIECE)]


def _contacts(*extra: Any) -> Any:
    table = Contact.__table__
    return select(*(table.c[name] for name in _CONTACT_COLUMNS), *extra)


def _rows(session: Session, query: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in session.execute(query).mappings()]


def promotion_candidates(
    session: Session, policy: CompiledPolicy, now: datetime, contact_ids: Sequence[int] | None
) -> list[dict[str, Any]]:
    """Leads (and contacts recycled for no interest) meeting the qualify policy, with reason."""
    if policy.qualify is None:
        return []
    contacts = Contact.__table__
    moment = Moment(now)
    raised = exists().where(
        Event.contact_id == contacts.c.id,
        Event.type.in_(HAND_RAISER_EVENTS),
        Event.occurred_at >= now - policy.hand_raiser_window,
    )
    reason = case((raised, "hand_raiser"), else_="interest_threshold").label("reason")
    eligible = or_(
        contacts.c.stage == Stage.LEAD.value,
        and_(
            contacts.c.stage == Stage.UNQUALIFIED.value,
            contacts.c.stage_reason.in_(REQUALIFIED_REASONS),
        ),
    )
    condition = to_sql(policy.qualify, WorkspaceSqlFields(), moment)
    found: list[dict[str, Any]] = []
    for piece in _pieces(contact_ids):
        query = _contacts(reason).where(eligible, condition)
        if piece is not None:
            query = query.where(contacts.c.id.in_(list(piece)))
        found += _rows(session, query.order_by(contacts.c.id))
    return found


def conversion_candidates(
    session: Session, contact_ids: Sequence[int] | None
) -> list[dict[str, Any]]:
    """Leads, qualified and unqualified contacts with a purchase or a redeemed promo code."""
    contacts = Contact.__table__
    bought = exists().where(
        Event.contact_id == contacts.c.id, Event.type.in_(list(CONVERSION_EVENTS))
    )
    found: list[dict[str, Any]] = []
    for piece in _pieces(contact_ids):
        query = _contacts().where(contacts.c.stage.in_(CONVERTED_STAGES), bought)
        if piece is not None:
            query = query.where(contacts.c.id.in_(list(piece)))
        found += _rows(session, query.order_by(contacts.c.id))
    return found


def recycle_candidates(
    session: Session, policy: CompiledPolicy, now: datetime
) -> list[dict[str, Any]]:
    """Leads for longer than `recycle_after` with no event earning points in that time."""
    if policy.recycle_after is None:
        return []
    contacts = Contact.__table__
    since = now - policy.recycle_after
    positive = policy.interest.positive_rules() if policy.interest is not None else ()
    moment = Moment(now)
    query = _contacts().where(
        contacts.c.stage == Stage.LEAD.value,
        func.coalesce(contacts.c.stage_changed_at, contacts.c.created_at) <= since,
    )
    if positive:
        showed_interest = exists().where(
            Event.contact_id == contacts.c.id,
            Event.occurred_at >= since,
            or_(*(rule_condition(rule, moment) for rule in positive)),
        )
        query = query.where(~showed_interest)
    return _rows(session, query.order_by(contacts.c.id))


def event_rows(
    session: Session,
    contact_ids: Sequence[int],
    types: Sequence[str],
    since: datetime | None = None,
) -> dict[int, list[dict[str, Any]]]:
    """Events of these contacts and types (since a time when given), oldest first, as dicts."""
    found: dict[int, list[dict[str, Any]]] = {contact_id: [] for contact_id in contact_ids}
    table = Event.__table__
    for piece in _pieces(list(contact_ids)):
        assert piece is not None  # noqa: S101
        query = select(table).where(table.c.contact_id.in_(list(piece)), table.c.type.in_(types))
        if since is not None:
            query = query.where(table.c.occurred_at >= since)
        for row in session.execute(query.order_by(table.c.occurred_at, table.c.id)).mappings():
            found[row["contact_id"]].append(dict(row))
    return found


def apply_moves(
    session: Session, moves: Sequence[Move], policy: CompiledPolicy, at: datetime
) -> None:
    """Write every move's stage change and put each contact in its last move's stage."""
    if not moves:
        return
    history = [
        {
            "contact_id": move.contact_id,
            "from_stage": move.source.value,
            "to_stage": move.target.value,
            "reason": move.reason,
            "actor": policy.actor,
            "playbook_version_id": policy.version_id,
            "explanation": move.explanation,
            "changed_at": at,
        }
        for move in moves
    ]
    session.execute(insert(StageChange), history)
    final: dict[int, Move] = {move.contact_id: move for move in moves}
    statement = (
        update(Contact.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause
        .where(Contact.__table__.c.id == bindparam("moved_id"))
        .values(
            stage=bindparam("new_stage", type_=String()),
            stage_reason=bindparam("new_reason", type_=String()),
            stage_changed_at=literal(at, Contact.stage_changed_at.type),
        )
    )
    session.execute(
        statement,
        [
            {"moved_id": m.contact_id, "new_stage": m.target.value, "new_reason": m.reason}
            for m in final.values()
        ],
    )


def stage_of(session: Session, contact_ids: Sequence[int]) -> Mapping[int, str]:
    """The current stage of these contacts."""
    table = Contact.__table__
    query = select(table.c.id, table.c.stage).where(table.c.id.in_(list(contact_ids)))
    return {contact_id: stage for contact_id, stage in session.execute(query)}
