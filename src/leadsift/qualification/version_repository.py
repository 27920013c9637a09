"""SQL of the stored playbook versions as the API lists them: a page at a time, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.qualification.models import PlaybookVersion


@dataclass(frozen=True)
class VersionRow:
    """A stored version without its text (a list reads many)."""

    id: int
    name: str
    version: int
    fingerprint: str
    source_name: str
    applied_at: datetime
    activated_at: datetime | None


def versions_page(session: Session, *, before_id: int | None, limit: int) -> list[VersionRow]:
    """Up to LIMIT versions, newest first, of ids below BEFORE_ID (all when None)."""
    query = select(
        PlaybookVersion.id,
        PlaybookVersion.name,
        PlaybookVersion.version,
        PlaybookVersion.fingerprint,
        PlaybookVersion.source_name,
        PlaybookVersion.applied_at,
        PlaybookVersion.activated_at,
    )
    if before_id is not None:
        query = query.where(PlaybookVersion.id < before_id)
    query = query.order_by(PlaybookVersion.id.desc()).limit(limit)
    return [VersionRow(*row) for row in session.execute(query)]
