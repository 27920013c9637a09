"""ORM models of the lifecycle: stage history, playbook versions and the last evaluation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class PlaybookVersion(Base):
    """A playbook as applied: its canonical document, fingerprint and version number."""

    __tablename__ = "playbook_versions"
    __table_args__ = (Index("ix_playbook_versions_name_version", "name", "version", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JsonType)
    source_text: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(String(500))
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When it was last applied: the workspace's active playbook (the one scoring events in real
    # time) is the version applied last.
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class StageChange(Base):
    """One move of a contact between stages, written in the transaction that made it."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_contact", "contact_id", "id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    contact_id: Mapped[int] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"))
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    # "system", "playbook:<name>@<version>" or "user:<name>"
    actor: Mapped[str] = mapped_column(String(200))
    # Playbook versions are never deleted, so no foreign key: a check per row would cost a
    # million-contact `qualify` several seconds on PostgreSQL for nothing.
    playbook_version_id: Mapped[int | None] = mapped_column(IdType)
    # Why: criteria results and fit contributions (for playbook moves), or the person's note.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ContactEvaluation(Base):
    """The last evaluation of a contact against a playbook, for `explain`."""

    __tablename__ = "contact_evaluations"

    # No foreign keys: a check per row would cost a million-contact `qualify` seconds on
    # PostgreSQL; `qualify` removes evaluations of deleted contacts, `explain` ignores any
    # older than the contact.
    contact_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    playbook_version_id: Mapped[int] = mapped_column(IdType)
    # The stage the contact had when evaluated; the run moves it when outcome differs.
    previous_stage: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    fit: Mapped[int] = mapped_column(Integer)
    # Per eligibility predicate and fit rule: true, false or null (unknown), in playbook order.
    results: Mapped[list[Any]] = mapped_column(JsonType)
    # The values of the fields the playbook reads, in the order of `document` field lists.
    field_values: Mapped[list[Any]] = mapped_column(JsonType)
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime)
