"""ORM models of the event log, anonymous visitors linked to contacts, and tracked links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class Event(Base):
    """One thing a contact or an anonymous visitor did; append-only (stitching fills contact_id)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("uq_events_dedup_key", "dedup_key", unique=True),
        # Scores, aggregates and timelines read one contact's events by type and time.
        Index("ix_events_contact_type_time", "contact_id", "type", "occurred_at"),
        Index(
            "ix_events_anonymous_id",
            "anonymous_id",
            sqlite_where=text("anonymous_id IS NOT NULL"),
            postgresql_where=text("anonymous_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    anonymous_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    source: Mapped[str | None] = mapped_column(String(100))
    campaign: Mapped[str | None] = mapped_column(String(200))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    # The sender's idempotency key, when it gave one.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # 128 bits of SHA-256 over the key (or, without one, over the event itself): the same event
    # sent twice is stored once. A 16-byte key keeps the unique index small at millions of rows.
    dedup_key: Mapped[bytes] = mapped_column(LargeBinary(16))
    # 128 bits of SHA-256 over what the event says: a key reused for another event is a conflict.
    payload_hash: Mapped[bytes] = mapped_column(LargeBinary(16))


class VisitorLink(Base):
    """An anonymous visitor id known to belong to a contact (a form, a tracked email link)."""

    __tablename__ = "visitor_links"

    anonymous_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    via: Mapped[str] = mapped_column(String(40))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TrackedLink(Base):
    """A URL registered for a campaign: click redirects go only to these."""

    __tablename__ = "tracked_links"
    __table_args__ = (Index("uq_tracked_links_campaign_url", "campaign", "url", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    campaign: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ContactActivity(Base):
    """A contact's last event and whether it ever bought, kept up to date from the event log
    past a cursor by the analytics rollups (events are appended, so both only move forward), and
    copied into `contact_scores` for remarketing. Erasure removes it with the contact."""

    __tablename__ = "contact_activity"

    contact_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    last_event_at: Mapped[datetime] = mapped_column(UtcDateTime)
    bought: Mapped[bool] = mapped_column(Boolean)
