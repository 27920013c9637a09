"""SQL of API keys and workspace secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.access.models import ApiKey, WorkspaceSecret
from leadsift.kit.bulk import dialect_insert


def add_key(session: Session, key: ApiKey) -> ApiKey:
    """Store a key and flush so it has an id."""
    session.add(key)
    session.flush()
    return key


def key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    """The key whose public prefix is PREFIX."""
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()


def keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def get_key(session: Session, key_id: int) -> ApiKey | None:
    """One key by id."""
    return session.get(ApiKey, key_id)


def secret(session: Session, name: str, candidate: bytes, at: datetime) -> bytes:
    """The secret called NAME, created from CANDIDATE when there is none (race-safe)."""
    insert = dialect_insert(session)
    session.execute(
        insert(WorkspaceSecret)
        .values(name=name, value=candidate, created_at=at)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = session.scalars(select(WorkspaceSecret.value).where(WorkspaceSecret.name == name))
    return bytes(value.one())
