"""ORM model of the model store: every trained predictive model, with its card."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class StoredModel(Base):
    """A trained model: its card (data, label, features, metrics, versions) and its document.

    The document is the model itself as JSON text (no pickle): checked against its checksum
    when loaded, so a damaged row is refused with a message instead of scoring nonsense.
    """

    __tablename__ = "predictive_models"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(500))
    rows: Mapped[int] = mapped_column(Integer)
    positives: Mapped[int] = mapped_column(Integer)
    roc_auc: Mapped[float | None] = mapped_column(Float)
    card: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # Deferred: scoring finds the active model on every event and loads this only once per
    # process (the parsed model is cached by id).
    document: Mapped[str] = mapped_column(Text, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The active model is the one activated last (as for playbooks); None: never activated.
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
