"""The interest formula of `scoring.interest` in SQL, set-based: one grouped pass over the
events of the rules' types, written to `contact_scores`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, delete, func, insert, literal, select, true
from sqlalchemy.orm import Session

from leadsift.contacts.models import ContactScore
from leadsift.criteria import Moment
from leadsift.criteria.sql import to_sql
from leadsift.engagement.criteria_sql import EventSqlFields
from leadsift.engagement.models import Event
from leadsift.kit.sqljson import epoch_seconds
from leadsift.scoring.interest import (
    FORGOTTEN_AFTER_HALF_LIVES,
    InterestModel,
    InterestRuleSpec,
)

# Contacts rescored in one statement (SQLite allows 32,766 bound parameters).
_PIECE = 5_000


def rule_condition(rule: InterestRuleSpec, moment: Moment) -> Any:
    """The SQL condition under which a row of `events` counts for RULE."""
    events = Event.__table__
    condition = events.c.type == rule.event
    if rule.where is not None:
        condition = and_(condition, to_sql(rule.where, EventSqlFields(events), moment))
    return condition


def _clamped(total: Any, rule: InterestRuleSpec) -> Any:
    if rule.cap is None:
        return total
    limit = literal(float(rule.cap), Float())
    return case((total > limit, limit), (total < -limit, -limit), else_=total)


def interest_query(model: InterestModel, now: datetime, contact_ids: Sequence[int] | None) -> Any:
    """(contact_id, interest) of every contact with events of the rules' types (of CONTACT_IDS)."""
    events = Event.__table__
    moment = Moment(now)
    age = literal(now.timestamp(), Float()) - epoch_seconds(events.c.occurred_at)
    half_life = model.half_life.total_seconds()
    rate = math.log(2) / half_life
    forgotten = literal(FORGOTTEN_AFTER_HALF_LIVES * half_life, Float())
    # An event dated after the scoring moment counts in full (no growth); a very old one, nothing.
    weight = case(
        (age <= 0, literal(1.0, Float())),
        (age >= forgotten, literal(0.0, Float())),
        else_=func.exp(-rate * age),
    )
    sums = [
        func.sum(case((rule_condition(rule, moment), weight), else_=literal(0.0, Float())))
        .label(f"rule_{rule.index}")
        for rule in model.rules
    ]
    scope = [events.c.contact_id.is_not(None), events.c.type.in_(model.event_types())]
    if contact_ids is not None:
        scope.append(events.c.contact_id.in_(list(contact_ids)))
    per_rule = (
        select(events.c.contact_id, *sums).where(*scope).group_by(events.c.contact_id).subquery()
    )
    total: Any = literal(0.0, Float())
    for rule in model.rules:
        total = total + _clamped(per_rule.c[f"rule_{rule.index}"] * rule.points, rule)
    return select(per_rule.c.contact_id, total.label("interest"))


def write_interest(
    session: Session, model: InterestModel | None, now: datetime, contact_ids: Sequence[int] | None
) -> None:
    """Replace the stored interest of CONTACT_IDS (everyone when None) by its value at NOW."""
    pieces: list[Sequence[int] | None] = (
        [None]
        if contact_ids is None
        else [contact_ids[i : i + _PIECE] for i in range(0, len(contact_ids), _PIECE)]
    )
    for piece in pieces:
        where = true() if piece is None else ContactScore.contact_id.in_(list(piece))
        session.execute(delete(ContactScore).where(where))
        if model is None or not model.rules:
            continue
        computed = interest_query(model, now, piece).subquery()
        rows = select(
            computed.c.contact_id,
            computed.c.interest,
            literal(now, ContactScore.scored_at.type),
        )
        session.execute(
            insert(ContactScore).from_select(["contact_id", "interest", "scored_at"], rows)
        )


def stored_interest(session: Session, contact_ids: Sequence[int]) -> dict[int, float]:
    """The stored interest of these contacts (absent: never scored, i.e. zero)."""
    query = select(ContactScore.contact_id, ContactScore.interest).where(
        ContactScore.contact_id.in_(list(contact_ids))
    )
    return {contact_id: interest for contact_id, interest in session.execute(query)}


def count_scores(session: Session) -> int:
    """How many contacts have a stored interest row."""
    return session.execute(select(func.count()).select_from(ContactScore)).scalar_one()
