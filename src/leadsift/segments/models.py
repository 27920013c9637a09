"""ORM model of saved segments: a named criteria expression, reusable by every face."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, UtcDateTime


class SavedSegment(Base):
    """A criteria expression saved under a name (a lower-case handle, unique)."""

    __tablename__ = "saved_segments"
    # One segment per name: saving a name again updates it (race-safe with ON CONFLICT).
    __table_args__ = (Index("uq_saved_segments_name", "name", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # Stored lower-cased (`Hot-Leads` and `hot-leads` are one segment): safe in URLs and shells.
    name: Mapped[str] = mapped_column(String(100))
    # As the user wrote it (checked against the workspace's fields when saved).
    expression: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(300))
    # The actor of the audit log: "user:12", "key:3" or "cli".
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
