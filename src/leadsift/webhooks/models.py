"""ORM models of webhooks: the receivers, each delivery, the cursors over the logs they are
derived from, and which contacts stand above an endpoint's score threshold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class WebhookEndpoint(Base):
    """A receiver: its URL, the secret its deliveries are signed with, what it subscribes to."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept as given (HMAC needs it to sign); shown once, when the endpoint is created.
    secret: Mapped[str] = mapped_column(String(100))
    # Event types (e.g. "contact.qualified"), as a JSON list.
    events: Mapped[list[str]] = mapped_column(JsonType)
    # For contact.score_crossed: which score ("interest", "probability") and its threshold.
    score_field: Mapped[str | None] = mapped_column(String(20))
    score_threshold: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """One event for one endpoint: its body's parts, where it stands, and its last attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Deriving the same event twice never makes two deliveries.
        Index("uq_webhook_deliveries_key", "endpoint_id", "event_key", unique=True),
        # What is due: one range of a small index (delivered and given-up rows are not in it).
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("status IN ('pending', 'failed')"),
            postgresql_where=text("status IN ('pending', 'failed')"),
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(40))
    # The event's id, the same for every endpoint (receivers de-duplicate on it).
    event_key: Mapped[str] = mapped_column(String(120))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # pending (never tried), failed (retry scheduled), delivered, gave_up.
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookCursor(Base):
    """How far webhooks have read a log (the last id taken in) and when they last did."""

    __tablename__ = "webhook_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(IdType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookScoreMark(Base):
    """A contact whose score stood at or above an endpoint's threshold when last seen: the next
    crossing is announced only after it falls below again."""

    __tablename__ = "webhook_score_marks"

    endpoint_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(IdType, primary_key=True)
