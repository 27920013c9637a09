"""ORM models of API keys (hash only) and the workspace's secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, UtcDateTime


class ApiKey(Base):
    """A key for the REST API: its public prefix, the SHA-256 of the whole key, and its scope."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("uq_api_keys_prefix", "prefix", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    # The first characters of the key, shown in listings and used to find the row.
    prefix: Mapped[str] = mapped_column(String(20))
    # The key is 256 random bits: a plain SHA-256 is enough (no password stretching needed).
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WorkspaceSecret(Base):
    """A random secret made once per workspace (e.g. the key that signs tracking links)."""

    __tablename__ = "workspace_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
