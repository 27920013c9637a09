"""ORM models of analytics: costs as recorded, and the rollups the reports read (each kept up
to date from the stage history and the event log by a cursor: idempotent and resumable)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.kit.orm import Base, IdType, UtcDateTime
from leadsift.qualification.models import StageChange

# Per span measure: the facts' columns of its whole days and of its exact value (seconds to
# convert, whole hours of a step), indexed together with the entry time, so the value at a rank
# within one whole-day count is read along the index (medians of a period, without its rows).
SPAN_COLUMNS = {
    "convert": ("days_to_convert", "seconds_to_convert"),
    "lead": ("days_to_lead", "hours_to_lead"),
    "qualify": ("days_to_qualify", "hours_to_qualify"),
    "win": ("days_to_win", "hours_to_win"),
}


class Cost(Base):
    """Money spent on a campaign (on a day, through a channel, from a source)."""

    __tablename__ = "costs"
    __table_args__ = (Index("ix_costs_campaign_day", "campaign", "spent_on"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[float] = mapped_column(Float)
    spent_on: Mapped[date] = mapped_column(Date)
    # The file and row it came from (`cost import`), so a re-import is not counted twice.
    origin: Mapped[str | None] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RollupCursor(Base):
    """How far a rollup has read its source table (the last id taken in)."""

    __tablename__ = "rollup_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(IdType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FunnelFact(Base):
    """One contact's way through the funnel: when it first reached each stage, why it left,
    and what brought it (its first campaign and UTM campaign)."""

    __tablename__ = "funnel_facts"
    __table_args__ = (
        Index("ix_funnel_facts_entered", "entered_at"),
        # Time to convert reads only the customers of a period.
        Index(
            "ix_funnel_facts_converted",
            "entered_at",
            sqlite_where=text("customer_at IS NOT NULL"),
            postgresql_where=text("customer_at IS NOT NULL"),
        ),
        *(
            Index(
                f"ix_funnel_facts_{days}",
                days,
                value,
                "entered_at",
                sqlite_where=text(f"{days} IS NOT NULL"),
                postgresql_where=text(f"{days} IS NOT NULL"),
            )
            for days, value in SPAN_COLUMNS.values()
        ),
    )

    contact_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The contact's stage now (reports need not read the contacts table).
    stage: Mapped[str] = mapped_column(String(20))
    lead_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    qualified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    customer_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unqualified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unqualified_reason: Mapped[str | None] = mapped_column(String(40))
    lost_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lost_reason: Mapped[str | None] = mapped_column(String(40))
    # The first campaign (and channel) that reached the contact, and its first UTM campaign.
    campaign: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(40))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    touched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The contact's source and region, copied (reports split by them without reading the
    # contacts); a rolling check each pass brings back those changed since.
    source: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    # Entry to customer in seconds, entry to lead, lead to qualified and qualified to customer
    # in whole hours (NULL when not made), and each in whole days (a step's: its hours // 24).
    seconds_to_convert: Mapped[float | None] = mapped_column(Float)
    hours_to_lead: Mapped[int | None] = mapped_column(Integer)
    hours_to_qualify: Mapped[int | None] = mapped_column(Integer)
    hours_to_win: Mapped[int | None] = mapped_column(Integer)
    days_to_convert: Mapped[int | None] = mapped_column(Integer)
    days_to_lead: Mapped[int | None] = mapped_column(Integer)
    days_to_qualify: Mapped[int | None] = mapped_column(Integer)
    days_to_win: Mapped[int | None] = mapped_column(Integer)


class FunnelDay(Base):
    """The funnel facts of one day of entry and one group of a dimension, counted: what the
    funnel, ROI and reasons read for whole days (a few rows a day, not one per contact)."""

    __tablename__ = "funnel_days"
    # On SQLite the rows live in the key's B-tree: a range of days reads no other page.
    __table_args__ = ({"sqlite_with_rowid": False},)

    # "all" (value ""), source, region, campaign, channel, utm_campaign, touch (campaign else
    # UTM campaign), unqualified_reason, lost_reason; "" is the group of contacts without one.
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    contacts: Mapped[int] = mapped_column(Integer)
    leads: Mapped[int] = mapped_column(Integer)
    qualified: Mapped[int] = mapped_column(Integer)
    customers: Mapped[int] = mapped_column(Integer)
    unqualified: Mapped[int] = mapped_column(Integer)
    lost: Mapped[int] = mapped_column(Integer)
    in_progress: Mapped[int] = mapped_column(Integer)


class FunnelSpan(Base):
    """How many contacts of one day of entry (and group) took so many whole days for a span
    (measure: convert, lead, qualify, win): where a median lies, before its exact value is
    read from the facts of that day count only."""

    __tablename__ = "funnel_spans"
    __table_args__ = ({"sqlite_with_rowid": False},)

    measure: Mapped[str] = mapped_column(String(10), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    days: Mapped[int] = mapped_column(Integer, primary_key=True)
    contacts: Mapped[int] = mapped_column(Integer)


class PurchaseDay(Base):
    """Purchases (and promo redemptions) of one UTC day by buyers of one source or first-touch
    channel (as their funnel facts hold them), with their amounts: ROI by source or channel."""

    __tablename__ = "purchase_days"
    __table_args__ = ({"sqlite_with_rowid": False},)

    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)  # source | channel
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)  # "": none
    purchases: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float] = mapped_column(Float)


class AgentDay(Base):
    """The agents report of one UTC day of qualification and one owner, as the worker's last
    pass counted it (recomputed whole each pass: owners change without a history)."""

    __tablename__ = "agent_days"
    __table_args__ = ({"sqlite_with_rowid": False},)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    prospects: Mapped[int] = mapped_column(Integer)
    open: Mapped[int] = mapped_column(Integer)
    touched: Mapped[int] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(Integer)
    won: Mapped[int] = mapped_column(Integer)
    lost: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float] = mapped_column(Float)


# Indexes on other domains' tables, for the dashboard's speed to lead (qualifications of a
# period), waiting list (qualified prospects, longest waiting first) and ROI. Partial: only those
# rows are indexed, so imports, events and `qualify` pay nothing for the others.
Index(
    "ix_stage_changes_qualified_at",
    StageChange.changed_at,
    StageChange.contact_id,
    sqlite_where=text("to_stage = 'qualified'"),
    postgresql_where=text("to_stage = 'qualified'"),
)
# ROI per source or channel reads the purchases of a period (a few in a hundred events).
Index(
    "ix_events_conversions_at",
    Event.occurred_at,
    sqlite_where=text("type IN ('purchase', 'promo_redeemed')"),
    postgresql_where=text("type IN ('purchase', 'promo_redeemed')"),
)
# The agents report reads the facts of the first and last (partial) days of its period.
Index(
    "ix_funnel_facts_qualified_at",
    FunnelFact.qualified_at,
    sqlite_where=text("qualified_at IS NOT NULL"),
    postgresql_where=text("qualified_at IS NOT NULL"),
)
Index(
    "ix_contacts_qualified_since",
    Contact.stage_changed_at,
    Contact.id,
    sqlite_where=text("stage = 'qualified'"),
    postgresql_where=text("stage = 'qualified'"),
)


class EventDay(Base):
    """Events of one day, type, campaign and UTM source/campaign: how many, from how many
    contacts' events, and their amounts (purchases)."""

    __tablename__ = "event_days"
    # Key columns hold "" rather than NULL: a unique index treats NULLs as all different.
    __table_args__ = (
        Index(
            "uq_event_days_key", "day", "type", "campaign", "utm_source", "utm_campaign",
            unique=True,
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    type: Mapped[str] = mapped_column(String(64))
    campaign: Mapped[str] = mapped_column(String(200))
    utm_source: Mapped[str] = mapped_column(String(200))
    utm_campaign: Mapped[str] = mapped_column(String(200))
    events: Mapped[int] = mapped_column(Integer)
    amount: Mapped[float] = mapped_column(Float)


class AttributionDay(Base):
    """Credited conversions, revenue and touches per UTC day of conversion, model and key: what
    the attribution report sums (a few thousand rows, not millions of credits)."""

    __tablename__ = "attribution_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    conversions: Mapped[float] = mapped_column(Float)
    revenue: Mapped[float] = mapped_column(Float)
    touches: Mapped[int] = mapped_column(Integer)


class AttributionCredit(Base):
    """The share of one conversion a touch key earns under one attribution model."""

    __tablename__ = "attribution_credits"

    conversion_id: Mapped[int] = mapped_column(IdType, primary_key=True)  # the event's id
    model: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    converted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    credit: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    touches: Mapped[int] = mapped_column(Integer)
