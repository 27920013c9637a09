"""ORM model of the interest domain: how far the stored sums have taken the event log in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, UtcDateTime


class InterestState(Base):
    """One row: the interest model of the last `leadsift score` and the event id up to which
    every event is in the stored sums of `contact_scores` (events after it: their contacts are
    computed again by the next run)."""

    __tablename__ = "interest_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_key: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(IdType)
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime)
