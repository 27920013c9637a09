"""SQL of the breakdowns: events per campaign, figures per agent, interest without purchase."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner, User
from leadsift.agents.models import Touch
from leadsift.analytics.cost_repository import event_sums
from leadsift.analytics.models import FunnelFact
from leadsift.analytics.rollup_repository import CONVERSION_TYPES, event_amount
from leadsift.contacts.models import Contact, ContactScore
from leadsift.engagement.models import Event


def campaign_events(session: Session) -> list[tuple[str, str, float, float]]:
    """(campaign, event type, events, amount) of leadsift's campaigns (no UTM campaigns)."""
    sums = event_sums(session, utm=False)
    return [(name, kind, float(n), amount) for (name, kind), (n, amount) in sums.items()]


def agent_figures(session: Session, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per agent: prospects (owned, qualified in the period), open now, touched, calls, won,
    lost, and their customers' revenue."""
    touched = select(func.count(Touch.id)).where(Touch.contact_id == Contact.id).scalar_subquery()
    calls = (
        select(func.count(Touch.id))
        .where(Touch.contact_id == Contact.id, Touch.channel == "phone")
        .scalar_subquery()
    )
    revenue = (
        select(func.coalesce(func.sum(event_amount()), 0.0))
        .where(Event.contact_id == Contact.id, Event.type.in_(CONVERSION_TYPES))
        .scalar_subquery()
    )
    query = (
        select(
            User.name.label("agent"),
            func.count().label("prospects"),
            func.count().filter(Contact.stage == "qualified").label("open"),
            func.count().filter(touched > 0).label("touched"),
            func.coalesce(func.sum(calls), 0).label("calls"),
            func.count().filter(Contact.stage == "customer").label("won"),
            func.count().filter(Contact.stage == "lost").label("lost"),
            func.coalesce(
                func.sum(case((Contact.stage == "customer", revenue), else_=0.0)), 0.0
            ).label("revenue"),
        )
        .select_from(ContactOwner)
        .join(User, User.id == ContactOwner.user_id)
        .join(Contact, Contact.id == ContactOwner.contact_id)
        .join(FunnelFact, FunnelFact.contact_id == Contact.id)
        .where(FunnelFact.qualified_at >= since, FunnelFact.qualified_at < until)
        .group_by(User.name)
        .order_by(User.name)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def interested_without_purchase(session: Session, threshold: float) -> list[dict[str, Any]]:
    """Contacts whose interest is at least THRESHOLD and who never bought, with their last
    activity."""
    bought = select(Event.id).where(
        Event.contact_id == Contact.id, Event.type.in_(CONVERSION_TYPES)
    )
    last = (
        select(func.max(Event.occurred_at)).where(Event.contact_id == Contact.id).scalar_subquery()
    )
    query = (
        select(
            Contact.id.label("contact_id"), ContactScore.interest, Contact.stage, Contact.source,
            last.label("last_activity"),
        )
        .join(ContactScore, ContactScore.contact_id == Contact.id)
        .where(ContactScore.interest >= threshold, ~bought.exists())
    )  # fmt: skip
    return [
        {**row._mapping, "interest": round(float(row.interest), 1)}
        for row in session.execute(query)
    ]
