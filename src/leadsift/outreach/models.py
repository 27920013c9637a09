"""ORM models of outreach: suppression, campaigns and their history, the outbox and its
workers, promo programs and codes, and the log of data-protection requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class Suppression(Base):
    """An identifier that must never be messaged on a channel: only its keyed hash is kept, so
    an opted-out or erased person stays suppressed after any re-import, and a dump of this
    table gives no address away."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("identifier_hash", "channel"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    identifier_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # email | phone
    channel: Mapped[str] = mapped_column(String(20))  # a consent channel, or "all"
    reason: Mapped[str] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Campaign(Base):
    """A message (or a sequence of messages) to the contacts of a target, on one channel."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(20))  # email | sms
    audience: Mapped[str] = mapped_column(String(3))  # b2c | b2b
    # The criteria expression selecting the recipients (a stage target is `stage = "…"`).
    target: Mapped[str] = mapped_column(Text)
    # [{"delay_s": seconds after the previous step, "template": {...}}]; step 0 is the first.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    link_url: Mapped[str | None] = mapped_column(String(2000))
    link_id: Mapped[int | None] = mapped_column(IdType)
    promo_program_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("promo_programs.id", ondelete="RESTRICT")
    )
    control_percent: Mapped[float] = mapped_column(Float, default=0.0)
    # Random per campaign: which contacts are held out follows from it, reproducibly.
    control_seed: Mapped[str] = mapped_column(String(32))
    throttle_per_hour: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What preparation found: recipients, held out, skipped by reason.
    prepared: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CampaignChange(Base):
    """One change of a campaign's status, written with the change."""

    __tablename__ = "campaign_changes"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxMessage(Base):
    """One message decided for one contact: written in the transaction that decided it, then
    claimed, sent and settled by a worker. The unique key forbids deciding it twice.

    No foreign key to contacts (a check per row would cost a million-contact campaign seconds
    on PostgreSQL); erasing a person deletes their rows explicitly.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", "channel", "step"),
        Index("ix_outbox_messages_status_due", "status", "due_at", "id"),
        Index("ix_outbox_messages_claim", "claim_token", "id"),
        Index("ix_outbox_messages_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(IdType, ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(IdType)
    channel: Mapped[str] = mapped_column(String(20))
    step: Mapped[int] = mapped_column(Integer, default=0)
    # pending → claimed → sent | bounced | failed | skipped | ambiguous; control: held out;
    # stopped: a sequence's later step after a reply, unsubscribe, bounce or conversion.
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    message_id: Mapped[str | None] = mapped_column(String(300))
    provider_id: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxWorker(Base):
    """A running (or dead) worker: its claims are recovered when it is known to be gone."""

    __tablename__ = "outbox_workers"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PromoProgram(Base):
    """A promotion: its discount, validity and limits; codes are issued under it."""

    __tablename__ = "promo_programs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    discount: Mapped[str] = mapped_column(String(100))
    code_prefix: Mapped[str] = mapped_column(String(10), default="")
    valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    one_per_customer: Mapped[bool] = mapped_column(Boolean, default=True)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PromoCode(Base):
    """A personal, single-use code: issued to a contact by a campaign message."""

    __tablename__ = "promo_codes"
    __table_args__ = (
        UniqueConstraint("outbox_id"),
        Index("ix_promo_codes_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    program_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("promo_programs.id", ondelete="CASCADE")
    )
    # None once the person is erased: the redemption's figures stay, the person does not.
    contact_id: Mapped[int | None] = mapped_column(IdType)
    campaign_id: Mapped[int | None] = mapped_column(IdType)
    outbox_id: Mapped[int | None] = mapped_column(IdType)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    redeemed_amount: Mapped[float | None] = mapped_column(Float)


class DataRequest(Base):
    """A data-protection request carried out (export, erase, purge): when and how much, with no
    personal data (the contact's number only)."""

    __tablename__ = "data_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int | None] = mapped_column(IdType)
    actor: Mapped[str] = mapped_column(String(100))
    counts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class AudienceExport(Base):
    """An advertising audience handed out: who, when, what for, how many (no identifiers)."""

    __tablename__ = "audience_exports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    destination: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(200))
    criteria: Mapped[str | None] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    # Contacts that matched but had no ad_audience consent (left out).
    without_consent: Mapped[int] = mapped_column(Integer)
    file_sha256: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
