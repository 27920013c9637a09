"""ORM models of contacts, import batches, custom attribute definitions and the consent ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime
from leadsift.qualification.stages import INITIAL_STAGE


class ImportBatch(Base):
    """One run of `import contacts`: the file, its fingerprint, the mapping and the counts."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="contacts")
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    mapping: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    rejected_by_reason: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Contact(Base):
    """A person known by an email, a phone number or an external id."""

    __tablename__ = "contacts"
    # Partial unique indexes: contacts often lack one identifier, and indexing NULLs would cost
    # every insert of a million-row import for nothing.
    __table_args__ = tuple(
        Index(
            f"uq_contacts_{name}",
            name,
            unique=True,
            sqlite_where=text(f"{name} IS NOT NULL"),
            postgresql_where=text(f"{name} IS NOT NULL"),
        )
        for name in ("email", "phone", "external_id")
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_raw: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    age: Mapped[int | None] = mapped_column(Integer)
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(300))
    job_title: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(20), default=INITIAL_STAGE.value)
    stage_reason: Mapped[str | None] = mapped_column(String(40))
    stage_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    fit: Mapped[int | None] = mapped_column(Integer)
    attrs: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # The batch that created the contact. Neither indexed nor a foreign key: each would cost
    # every row of a million-row import (a trigger per row on PostgreSQL), batches are never
    # deleted (undo marks them), and only `import undo` filters on it, with one scan.
    created_batch_id: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ContactChange(Base):
    """Values an import overwrote on an existing contact, so `import undo` restores them."""

    __tablename__ = "contact_changes"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("import_batches.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    before: Mapped[dict[str, Any]] = mapped_column(JsonType)


class ImportRejection(Base):
    """A row an import refused, with where and why; kept for the rejects download."""

    __tablename__ = "import_rejections"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("import_batches.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(300))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(Text)


class AttributeDefinition(Base):
    """A custom attribute: its snake_case key, the header it came from and its inferred type."""

    __tablename__ = "attribute_definitions"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    label: Mapped[str] = mapped_column(String(300))
    value_type: Mapped[str] = mapped_column(String(20))
    created_batch_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("import_batches.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsentRecord(Base):
    """One append-only entry of the consent ledger; the current state is the latest per channel."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_contact_channel", "contact_id", "channel", "id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    contact_id: Mapped[int] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(40), default="marketing")
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))
    # The import batch that recorded it; like contacts.created_batch_id, no index or foreign key.
    batch_id: Mapped[int | None] = mapped_column(IdType)
    wording_hash: Mapped[str | None] = mapped_column(String(64))
    # For consent given on the web: where from (stored as data, escaped wherever shown).
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsentWording(Base):
    """The exact text a person agreed to, by its SHA-256 (consent records keep the hash)."""

    __tablename__ = "consent_wordings"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ContactIdFloor(Base):
    """The highest contact id ever given, once contacts were deleted (SQLite only).

    SQLite gives a new row max(id) + 1: after the person with the highest id is erased, the next
    contact would get their id — and the links in the erased person's old emails (unsubscribe,
    clicks) would act on someone else. Ids are never reused: the import and the forms start
    above this floor. (PostgreSQL's sequences never go back.)
    """

    __tablename__ = "contact_id_floor"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(IdType)


class ContactScore(Base):
    """A contact's interest as of its last scoring: a narrow row, rewritten by every scoring.

    Kept apart from `contacts` so a million-contact scoring rewrites small rows, not whole
    contact records and their indexes. No foreign key (a check per row would cost a full
    scoring seconds on PostgreSQL): scoring removes the rows of deleted contacts.
    """

    __tablename__ = "contact_scores"
    # PostgreSQL: half of each page left free, so that `leadsift score`'s update of every row
    # puts each new version in the same page (a HOT update: no new key entry): 2.5x faster.
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)

    contact_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    interest: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The contact's activity (engagement's `contact_activity`) copied beside its interest, so
    # remarketing (interested, never bought, by last activity) reads one narrow table.
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    bought: Mapped[bool | None] = mapped_column(Boolean)
    # The interest's decayed sums as of `sums_epoch` (see `interest.sums`), so that `leadsift
    # score` decays them instead of reading every event again: under the interest model
    # `model_key`, the points of the rules without a cap added up, and each capped rule's before
    # its cap. The oldest and newest counted events tell when the sums no longer just decay.
    # Times as seconds since 1970 (8 bytes, not SQLite's 26 of text: a million rows are written
    # at a time). `sums_epoch` NULL: to be computed from the events again (events stitched since).
    sums_epoch: Mapped[float | None] = mapped_column(Float)
    model_key: Mapped[int | None] = mapped_column(BigInteger)
    oldest_epoch: Mapped[float | None] = mapped_column(Float)
    newest_epoch: Mapped[float | None] = mapped_column(Float)
    uncapped: Mapped[float | None] = mapped_column(Float)
    capped_0: Mapped[float | None] = mapped_column(Float)
    capped_1: Mapped[float | None] = mapped_column(Float)
    capped_2: Mapped[float | None] = mapped_column(Float)
    capped_3: Mapped[float | None] = mapped_column(Float)
    capped_4: Mapped[float | None] = mapped_column(Float)
    capped_5: Mapped[float | None] = mapped_column(Float)
    capped_6: Mapped[float | None] = mapped_column(Float)
    capped_7: Mapped[float | None] = mapped_column(Float)


class ContactPrediction(Base):
    """A contact's probability of converting under the active model, and its priority.

    Apart from `contact_scores`, whose bulk rewrite must not erase them, and narrow for the same
    reason. No foreign key: `model score` removes the rows of deleted contacts.
    """

    __tablename__ = "contact_predictions"

    contact_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    model_id: Mapped[int] = mapped_column(IdType)
    probability: Mapped[float] = mapped_column(Float)
    # probability × expected deal value − cost of the next action (the playbook's `value`).
    priority: Mapped[float] = mapped_column(Float)
    predicted_at: Mapped[datetime] = mapped_column(UtcDateTime)
