"""SQL of the agents report: the figures of owned prospects qualified in a period, counted live
or per UTC day of qualification (agent_days, recomputed whole by a pass)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, exists, func, insert, select
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner, User
from leadsift.agents.models import Touch
from leadsift.analytics.models import AgentDay, FunnelFact
from leadsift.analytics.rollup_repository import CONVERSION_TYPES, event_amount
from leadsift.engagement.models import Event
from leadsift.kit.sqljson import utc_day
from leadsift.qualification.models import StageChange

FIGURES = ("prospects", "open", "touched", "calls", "won", "lost", "revenue")


def _figures(*keys: Any, where: tuple[ColumnElement[bool], ...] = ()) -> Any:
    """Per KEYS, of the prospects owned by a user and qualified (WHERE narrows): prospects, open
    now, touched, calls, won, lost and the customers' revenue, by the funnel facts' stage."""
    contact = FunnelFact.contact_id
    calls = (
        select(func.count(Touch.id))
        .where(Touch.contact_id == contact, Touch.channel == "phone")
        .scalar_subquery()
    )
    revenue = (
        select(func.coalesce(func.sum(event_amount()), 0.0))
        .where(Event.contact_id == contact, Event.type.in_(CONVERSION_TYPES))
        .scalar_subquery()
    )
    return (
        select(
            *keys,
            func.count().label("prospects"),
            func.count().filter(FunnelFact.stage == "qualified").label("open"),
            func.count().filter(exists().where(Touch.contact_id == contact)).label("touched"),
            func.coalesce(func.sum(calls), 0).label("calls"),
            func.count().filter(FunnelFact.stage == "customer").label("won"),
            func.count().filter(FunnelFact.stage == "lost").label("lost"),
            func.coalesce(
                func.sum(case((FunnelFact.stage == "customer", revenue), else_=0.0)), 0.0
            ).label("revenue"),
        )
        .select_from(ContactOwner)
        .join(FunnelFact, FunnelFact.contact_id == ContactOwner.contact_id)
        .where(ContactOwner.user_id.is_not(None), FunnelFact.qualified_at.is_not(None), *where)
        .group_by(*keys)
    )


def live(session: Session, since: datetime, until: datetime) -> dict[int, list[float]]:
    """Per owner's user id, the figures of the prospects qualified in [SINCE, UNTIL)."""
    query = _figures(
        ContactOwner.user_id,
        where=(FunnelFact.qualified_at >= since, FunnelFact.qualified_at < until),
    )
    return {row[0]: [float(n or 0) for n in row[1:]] for row in session.execute(query)}


def rebuild(session: Session) -> None:
    """Count every day of qualification and owner again (the figures of all time)."""
    session.execute(delete(AgentDay))
    day = utc_day(FunnelFact.qualified_at)
    counted = _figures(day, ContactOwner.user_id)
    rows = [
        {"day": date.fromisoformat(row[0]), "user_id": row[1],
         **dict(zip(FIGURES, row[2:], strict=True))}
        for row in session.execute(counted)
    ]  # fmt: skip
    if rows:
        session.execute(insert(AgentDay), rows)


def summed(session: Session, first: date, end: date) -> dict[int, list[float]]:
    """Per owner's user id, the figures of the days [FIRST, END) as counted by the last pass."""
    query = (
        select(AgentDay.user_id, *(func.sum(getattr(AgentDay, name)) for name in FIGURES))
        .where(AgentDay.day >= first, AgentDay.day < end)
        .group_by(AgentDay.user_id)
    )
    return {row[0]: [float(n or 0) for n in row[1:]] for row in session.execute(query)}


def user_names(session: Session, user_ids: list[int]) -> dict[int, str]:
    """The names of USER_IDS."""
    query = select(User.id, User.name).where(User.id.in_(user_ids))
    return {user_id: name for user_id, name in session.execute(query)}


def inputs(session: Session) -> tuple[int, ...]:
    """What the agents' days are counted from, in a few numbers that move when it changes:
    the last stage change and touch, the conversions, and the owners (how many, latest)."""
    conversions = select(func.count()).where(Event.type.in_(CONVERSION_TYPES))
    owners = select(func.count(), func.max(ContactOwner.assigned_at)).select_from(ContactOwner)
    count, latest = session.execute(owners).one()
    return (
        int(session.scalar(select(func.max(StageChange.id))) or 0),
        int(session.scalar(select(func.max(Touch.id))) or 0),
        int(session.scalar(conversions) or 0),
        int(count),
        int(latest.timestamp() * 1_000_000) if latest is not None else 0,
    )
