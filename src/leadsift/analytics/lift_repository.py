"""SQL of campaign lift: who was treated or held out, and what each did afterwards."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

from leadsift.analytics.rollup_repository import CONVERSION_TYPES, event_amount
from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.kit.sqljson import epoch_seconds, json_value_at
from leadsift.outreach.models import Campaign, OutboxMessage

SENT_TYPES: Final = ("email_sent", "sms_sent")
# An imported experiment's control group: contacts held out of a campaign (no message).
HOLDOUT_TYPE: Final = "campaign_holdout"
VISIT_TYPES: Final = ("page_view", "email_clicked")


def _members(campaign: str, treated: bool) -> Any:
    """(contact_id, at) of the campaign's treated (sent) or control (held out) contacts, from
    leadsift's own outbox and from imported events alike; the earliest time per contact."""
    events = select(Event.contact_id.label("contact_id"), Event.occurred_at.label("at")).where(
        Event.campaign == campaign,
        Event.contact_id.is_not(None),
        Event.type.in_(SENT_TYPES) if treated else Event.type == HOLDOUT_TYPE,
    )
    outbox = (
        select(OutboxMessage.contact_id.label("contact_id"), OutboxMessage.created_at.label("at"))
        .join(Campaign, Campaign.id == OutboxMessage.campaign_id)
        .where(
            Campaign.key == campaign,
            OutboxMessage.status == "control" if not treated else OutboxMessage.status == "sent",
        )
    )
    both = union_all(events, outbox).subquery()
    return (
        select(both.c.contact_id, func.min(both.c.at).label("at"))
        .group_by(both.c.contact_id)
        .subquery()
    )


def group_outcomes(
    session: Session, campaign: str, treated: bool, window_s: float, by: Any | None
) -> list[dict[str, Any]]:
    """Per segment (or one row): contacts, converted, visited, revenue and the sum of squared
    revenue per contact, counting what each did within WINDOW_S seconds of its send."""
    members = _members(campaign, treated)
    start = epoch_seconds(members.c.at)
    when = epoch_seconds(Event.occurred_at)
    is_conversion = Event.type.in_(CONVERSION_TYPES)
    per_contact = (
        select(
            members.c.contact_id,
            func.max(case((is_conversion, 1), else_=0)).label("converted"),
            func.max(case((Event.type.in_(VISIT_TYPES), 1), else_=0)).label("visited"),
            func.sum(case((is_conversion, event_amount()), else_=0.0)).label("revenue"),
        )
        .select_from(members)
        .outerjoin(
            Event,
            (Event.contact_id == members.c.contact_id)
            & Event.type.in_([*CONVERSION_TYPES, *VISIT_TYPES])
            & (when >= start)
            & (when < start + window_s),
        )
        .group_by(members.c.contact_id)
        .subquery()
    )
    segment = (by if by is not None else literal("all")).label("segment")
    revenue = func.coalesce(per_contact.c.revenue, 0.0)
    query = (
        select(
            segment,
            func.count().label("contacts"),
            func.sum(func.coalesce(per_contact.c.converted, 0)).label("converted"),
            func.sum(func.coalesce(per_contact.c.visited, 0)).label("visited"),
            func.sum(revenue).label("revenue"),
            func.sum(revenue * revenue).label("revenue_sq"),
        )
        .select_from(per_contact)
        .join(Contact, Contact.id == per_contact.c.contact_id)
        .group_by(segment)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def segment_column(name: str) -> Any:
    """The SQL of a lift segment: a contact column, or `attrs.KEY`."""
    if name.startswith("attrs."):
        return json_value_at(Contact.attrs, name.removeprefix("attrs."), "text")
    return {"source": Contact.source, "region": Contact.region, "country": Contact.country}[name]
