"""ORM models of the telesales side: touches (calls and personal messages), call state per
contact, round-robin positions, and imported opposition lists (hashed)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class Touch(Base):
    """A person reaching a contact: a call and its outcome (every call counts as an attempt),
    or an email or SMS an agent sent themselves. Speed to lead is measured to the first one."""

    __tablename__ = "touches"
    __table_args__ = (
        Index("ix_touches_contact_at", "contact_id", "at"),
        Index("ix_touches_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    contact_id: Mapped[int] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(10))  # phone | email | sms
    outcome: Mapped[str] = mapped_column(String(20))  # a call's outcome; "sent" otherwise
    reason: Mapped[str | None] = mapped_column(String(40))
    callback_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    amount: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class CallState(Base):
    """What the queue needs to know of a contact's calls without reading them all."""

    __tablename__ = "call_states"

    contact_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    # A call-back the person asked for: due call-backs come first in the queue.
    callback_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_refusal_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The number that turned out to be wrong: no calls until the contact's phone changes.
    wrong_phone: Mapped[str | None] = mapped_column(String(20))


class RoundRobinPosition(Base):
    """Where a round-robin rule stands (current weights: each member's lag behind its share)."""

    __tablename__ = "round_robin_positions"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OppositionImport(Base):
    """One import of an opposition list (e.g. Bloctel): the list as of a date replaces the last."""

    __tablename__ = "opposition_imports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    list_name: Mapped[str] = mapped_column(String(40), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    file_sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(60))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OppositionEntry(Base):
    """A number on an opposition list, kept only as a keyed hash (most are not our contacts)."""

    __tablename__ = "opposition_entries"

    list_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
